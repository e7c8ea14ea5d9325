package rootfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecureJoin(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	must(os.Symlink("/etc", filepath.Join(root, "abs")))
	must(os.Symlink("../../../../..", filepath.Join(root, "usr/up")))
	must(os.Symlink("/../../../tmp", filepath.Join(root, "escape")))
	must(os.Symlink("lib", filepath.Join(root, "usr/rel")))
	must(os.Symlink("loop2", filepath.Join(root, "loop1")))
	must(os.Symlink("loop1", filepath.Join(root, "loop2")))

	cases := map[string]string{
		"/":                "",
		"/etc/passwd":      "etc/passwd",
		"../../etc":        "etc",
		"/abs/x":           "etc/x",
		"/usr/up/etc":      "etc",
		"/escape/foo":      "tmp/foo",
		"/usr/rel/x":       "usr/lib/x",
		"/new/a/../b":      "new/b",
		"/new/../../../..": "",
	}
	for in, want := range cases {
		got, err := SecureJoin(root, in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if w := filepath.Join(root, want); got != w {
			t.Errorf("SecureJoin(%q) = %q, want %q", in, got, w)
		}
		if !IsInside(root, got) {
			t.Errorf("%q escaped root: %q", in, got)
		}
	}
	if _, err := SecureJoin(root, "/loop1/x"); err == nil {
		t.Error("symlink loop not detected")
	}
}

func TestIsInside(t *testing.T) {
	if IsInside("/a/b", "/a/bc") || IsInside("/a/b", "/a") || !IsInside("/a/b", "/a/b/c") || !IsInside("/a/b", "/a/b") {
		t.Fatal("IsInside wrong")
	}
}
