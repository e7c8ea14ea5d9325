package e2e

import (
	"archive/tar"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/test/image"
)

// loadBusyboxWith loads busybox with one more layer as NAME:latest.
func (s *stack) loadBusyboxWith(layer []byte, name string) {
	s.t.Helper()
	bb, err := image.Busybox()
	if err != nil {
		s.t.Fatal(err)
	}
	img, err := image.New(append(bb.Layers, layer), []string{"sh"})
	if err != nil {
		s.t.Fatal(err)
	}
	tarPath := filepath.Join(s.root, name+".tar")
	f, err := os.Create(tarPath)
	if err != nil {
		s.t.Fatal(err)
	}
	img.WriteDockerArchiveTo(f, name+":latest")
	f.Close()
	s.mustDocker("load", "-i", tarPath)
}

// The image content copied into a new volume keeps its owners, modes
// (setuid, sticky), xattrs, symlinks and hard links; the volume's root
// takes the owner and mode of the image's directory.
func TestVolumesCopyUpKeepsMetadata(t *testing.T) {
	s := newStack(t)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mt := time.Unix(1700000000, 0)
	for _, h := range []tar.Header{
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1234, Gid: 5678, ModTime: mt},
		{Name: "data/f", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1001, Size: 5, ModTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.berth": "kept"}},
		{Name: "data/suid", Typeflag: tar.TypeReg, Mode: 0o4755, ModTime: mt},
		{Name: "data/sticky/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: mt},
		{Name: "data/l", Typeflag: tar.TypeSymlink, Linkname: "f", ModTime: mt},
		{Name: "data/h", Typeflag: tar.TypeLink, Linkname: "data/f", ModTime: mt},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hello"))
		}
	}
	tw.Close()
	s.loadBusyboxWith(layer.Bytes(), "meta")
	if out := s.mustDocker("run", "--rm", "-v", "cv:/data", "meta", "cat", "/data/l"); out != "hello" {
		t.Errorf("through the symlink in the volume: %q", out)
	}
	vol := filepath.Join(s.root, "eng", "volumes", "cv", "_data")
	st := func(p string) *syscall.Stat_t {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(vol, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t)
	}
	for _, c := range []struct {
		path     string
		uid, gid uint32
		mode     uint32
	}{
		{"", 1234, 5678, unix.S_IFDIR | 0o750},
		{"f", 1000, 1001, unix.S_IFREG | 0o640},
		{"suid", 0, 0, unix.S_IFREG | 0o4755},
		{"sticky", 0, 0, unix.S_IFDIR | 0o1777},
	} {
		if got := st(c.path); got.Uid != c.uid || got.Gid != c.gid || got.Mode != c.mode {
			t.Errorf("/data/%s: %d:%d %o, want %d:%d %o", c.path, got.Uid, got.Gid, got.Mode, c.uid, c.gid, c.mode)
		}
	}
	if l, err := os.Readlink(filepath.Join(vol, "l")); err != nil || l != "f" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if st("h").Ino != st("f").Ino {
		t.Errorf("the hard link is a copy")
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(vol, "f"), "user.berth", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr: %q %v", buf[:max(n, 0)], err)
	}
	if got := st("f"); got.Mtim.Sec != mt.Unix() {
		t.Errorf("mtime %d, want %d", got.Mtim.Sec, mt.Unix())
	}
}

// docker import from a URL (served on loopback) runs; the fetch's HTTP
// error is reported, nothing imported.
func TestImportFromURL(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("create", "--name", "src", "busybox", "true")
	tarPath := filepath.Join(s.root, "rootfs.tar")
	s.mustDocker("export", "-o", tarPath, "src")
	body, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	id := strings.TrimSpace(s.mustDocker("import", "-c", "CMD [\"echo\", \"from-url\"]", srv.URL+"/rootfs.tar", "urlimp:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	if out := s.mustDocker("run", "--rm", "urlimp:1"); out != "from-url\n" {
		t.Errorf("run of the URL import: %q", out)
	}
	if out := s.mustDocker("history", "--format", "{{.Comment}}", "urlimp:1"); out != "Imported from "+srv.URL+"/rootfs.tar\n" {
		t.Errorf("history: %q", out)
	}
	before := s.mustDocker("images", "-q", "-a")
	if _, errOut, code := s.docker("import", srv.URL+"/missing.tar", "urlimp:2"); code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("import of a missing URL: exit %d %q", code, errOut)
	}
	if after := s.mustDocker("images", "-q", "-a"); after != before {
		t.Errorf("a failed URL import made images: %q -> %q", before, after)
	}
}
