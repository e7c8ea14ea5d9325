package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestCpPath(t *testing.T) {
	for in, want := range map[string]string{
		"etc": "/etc", "/etc/": "/etc/", "/etc/.": "/etc/.", "/a/../b": "/b", "/": "/", "..": "/", "/x/./": "/x/",
	} {
		if got := cpPath(in); got != want {
			t.Errorf("cpPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenCpPath(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "f"), []byte("x"), 0o644)
	os.Symlink("/etc", filepath.Join(dir, "l"))
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	for _, tc := range []struct {
		p, name, link string
		dir           bool
	}{
		{"/l", "l", "/etc", false}, // the link itself
		{"/l/", "l", "", true},     // followed
		{"/l/.", ".", "", true},    // its content
		{"/l/f", "f", "", false},   // through it
		{"/", "/", "", true},
	} {
		tg, st, err := openCpPath(root, tc.p)
		if err != nil {
			t.Errorf("%s: %v", tc.p, err)
			continue
		}
		ps, err := cpStat(root, tg, &st)
		tg.close()
		if err != nil || ps.Name != tc.name || ps.LinkTarget != tc.link || (ps.Mode&unix.S_IFMT == unix.S_IFDIR) != tc.dir {
			t.Errorf("%s: %+v %v", tc.p, ps, err)
		}
	}
	for _, p := range []string{"/nope", "/etc/f/", "/etc/f/."} {
		if _, _, err := openCpPath(root, p); !errdefs.IsNotFound(err) {
			t.Errorf("%s: %v, want NotFound", p, err)
		}
	}
}
