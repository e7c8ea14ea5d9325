package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

// The host file the hostile links aim at: one that exists outside root.
func hostTarget(t *testing.T) string {
	t.Helper()
	host := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(host, []byte("HOST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return host
}

func TestReadFileInRoot(t *testing.T) {
	root := t.TempDir()
	host := hostTarget(t)
	mk := func(rel, data string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
	mk("etc/group", "root:x:0:\n")
	// The same path inside root as the host file, so that a link that
	// stays inside reads this one.
	mk(host, "CONTAINER\n")
	link("/../../../../"+host, "a/abs-dotdot")
	link(host, "a/abs")
	link("../../../../../../"+host, "a/rel-dotdot")
	link("/etc/nothing-here", "a/dangling")
	link(filepath.Dir(host), "b/dirlink") // a symlinked parent
	link("loop2", "a/loop1")
	link("loop1", "a/loop2")
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// 10 GB, sparse: it must be refused by its size, not read.
	mk("etc/big", "")
	if err := os.Truncate(filepath.Join(root, "etc/big"), 10<<30); err != nil {
		t.Fatal(err)
	}
	mk("etc/exact", "12345")

	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	for _, tc := range []struct {
		path  string
		max   int64
		want  string
		class error
	}{
		{"/etc/passwd", 1 << 20, "root:x:0:0:root:/root:/bin/sh\n", nil},
		{"etc/group", 1 << 20, "root:x:0:\n", nil},
		{"/../../etc/passwd", 1 << 20, "root:x:0:0:root:/root:/bin/sh\n", nil},
		{"/a/abs-dotdot", 1 << 20, "CONTAINER\n", nil},
		{"/a/abs", 1 << 20, "CONTAINER\n", nil},
		{"/a/rel-dotdot", 1 << 20, "CONTAINER\n", nil},
		{"/b/dirlink/host-secret", 1 << 20, "CONTAINER\n", nil},
		{"/etc/exact", 5, "12345", nil},
		{"/etc/exact", 4, "", errdefs.ErrFailedPrecondition},
		{"/etc/missing", 1 << 20, "", errdefs.ErrNotFound},
		{"/etc/passwd/x", 1 << 20, "", errdefs.ErrNotFound},
		{"/a/dangling", 1 << 20, "", errdefs.ErrNotFound},
		{"/a/loop1", 1 << 20, "", errdefs.ErrFailedPrecondition},
		{"/d", 1 << 20, "", errdefs.ErrFailedPrecondition},
		{"/fifo", 1 << 20, "", errdefs.ErrFailedPrecondition},
		{"/etc/big", 1 << 20, "", errdefs.ErrFailedPrecondition},
	} {
		got, err := readFileInRoot(fd, tc.path, tc.max)
		if tc.class != nil {
			if !errors.Is(err, tc.class) {
				t.Errorf("%s (max %d): err = %v, want class %v", tc.path, tc.max, err, tc.class)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}
