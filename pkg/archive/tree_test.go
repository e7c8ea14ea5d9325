package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// WriteTree carries the user.* xattrs of files and directories, and the
// ones a symlink would lead to are not read through it.
func TestWriteTreeXattrs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "d", "l"))
	if err := unix.Setxattr(filepath.Join(dir, "d", "f"), "user.berth", []byte("file"), 0); errors.Is(err, unix.ENOTSUP) {
		t.Skip("no user xattrs on this filesystem")
	} else if err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(dir, "d"), "user.berth", []byte("dir"), 0); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var buf bytes.Buffer
	if err := WriteTree(context.Background(), &buf, fd, "d", "d"); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.PAXRecords["SCHILY.xattr.user.berth"]
	}
	want := map[string]string{"d/": "dir", "d/f": "file", "d/l": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: xattr %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
