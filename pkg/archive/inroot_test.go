package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

func openDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestFollowInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc", "sub"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "abs"))
	os.Symlink("../../../../etc/sub", filepath.Join(dir, "up"))
	os.Symlink("abs/missing/x", filepath.Join(dir, "dangling"))
	os.Symlink("loop", filepath.Join(dir, "loop"))
	root := openDir(t, dir)
	for in, want := range map[string]string{
		"/abs": "/etc", "/up": "/etc/sub", "/dangling": "/etc/missing/x", "/abs/sub/..": "/etc", "/": "/",
	} {
		if got, err := FollowInRoot(root, in); err != nil || got != want {
			t.Errorf("FollowInRoot(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := FollowInRoot(root, "/loop"); err == nil {
		t.Errorf("a symlink loop resolved")
	}
}

func TestMkdirAllInRootStaysIn(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "esc"))
	os.Symlink("/", filepath.Join(dir, "slash"))
	root := openDir(t, dir)
	// A link to a host path: not there in the root, so nothing is made.
	if fd, err := MkdirAllInRoot(root, "/esc/a/b"); err == nil {
		unix.Close(fd)
	}
	if _, err := os.Stat(filepath.Join(outside, "a")); err == nil {
		t.Fatal("MkdirAllInRoot followed a symlink out of the root")
	}
	fd, err := MkdirAllInRoot(root, "/slash/a/b")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := os.Stat(filepath.Join(dir, "a", "b")); err != nil {
		t.Errorf("directory not made at the root's /a/b: %v", err)
	}
}

func TestChmodNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, filepath.Join(dir, "l"))
	pfd := openDir(t, dir)
	if err := chmodNoFollow(pfd, "l", 0o777); err == nil {
		t.Errorf("chmod of a symlink succeeded")
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("chmod went through the symlink: %v", st.Mode())
	}
}

// A tar whose header is huge (a 2 MiB name in a PAX record) is refused
// as bad input before anything is made.
func TestApplyHugeHeader(t *testing.T) {
	rec := "path=" + strings.Repeat("a/", 1<<20) + "f\n"
	rec = strconv.Itoa(len(rec)+8) + " " + rec // 7 digits + space
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "pax", Typeflag: tar.TypeReg, Size: int64(len(rec)), Format: tar.FormatUSTAR})
	tw.Write([]byte(rec))
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
	tw.Close()
	// Turn the first entry into a PAX extended header.
	b := buf.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	dir := t.TempDir()
	_, err := ApplyAt(context.Background(), openDir(t, dir), bytes.NewReader(b), Options{Whiteouts: KeepWhiteouts})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("huge header: %v, want InvalidArgument (too long)", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("made %d entries", len(ents))
	}
}
