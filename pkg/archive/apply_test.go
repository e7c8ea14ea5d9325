package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/testprereq"
)

func needRoot(t *testing.T) {
	t.Helper()
	testprereq.Root(t)
}

type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	uid              int
	pax              map[string]string
}

func mktar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			Size: int64(len(e.body)), ModTime: time.Unix(1000000000, 0), PAXRecords: e.pax, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// sandbox returns root (the target) inside a parent dir holding "outside".
func sandbox(t *testing.T) (root, outside string) {
	p := t.TempDir()
	root = filepath.Join(p, "a", "b", "root")
	outside = filepath.Join(p, "outside")
	os.MkdirAll(root, 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	return root, outside
}

func apply(t *testing.T, root string, b []byte) (Result, error) {
	return Apply(context.Background(), root, bytes.NewReader(b), Options{})
}

func assertOutsideUntouched(t *testing.T, outside string) {
	t.Helper()
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("outside dir was written: %v", ents)
	}
	b, _ := os.ReadFile(filepath.Join(outside, "secret"))
	if string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	p := filepath.Dir(outside)
	ents, _ = os.ReadDir(p)
	if len(ents) != 2 {
		t.Fatalf("parent dir was written: %v", ents)
	}
}

func TestBasic(t *testing.T) {
	root, _ := sandbox(t)
	b := mktar(t,
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/hosts", body: "127.0.0.1 x\n", mode: 0o640},
		ent{name: "etc/hosts2", typ: tar.TypeLink, link: "etc/hosts"},
		ent{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		ent{name: "/abs", body: "abs"},
		ent{name: "./dot/./x", body: "x"},
	)
	res, err := apply(t, root, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.DiffID != digest.FromBytes(b) {
		t.Fatalf("diffID %s != %s", res.DiffID, digest.FromBytes(b))
	}
	st, err := os.Stat(filepath.Join(root, "etc/hosts"))
	if err != nil || st.Mode().Perm() != 0o640 || !st.ModTime().Equal(time.Unix(1000000000, 0)) {
		t.Fatalf("hosts: %v %v", err, st)
	}
	st2, _ := os.Stat(filepath.Join(root, "etc/hosts2"))
	if !os.SameFile(st, st2) {
		t.Fatal("hardlink not kept")
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "/bin/busybox" {
		t.Fatalf("symlink %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "abs")); string(b) != "abs" {
		t.Fatal("absolute path not kept inside root")
	}
	if _, err := os.Stat(filepath.Join(root, "dot/x")); err != nil {
		t.Fatal(err)
	}
	dst, _ := os.Stat(filepath.Join(root, "etc"))
	if !dst.ModTime().Equal(time.Unix(1000000000, 0)) {
		t.Fatalf("dir mtime not restored: %v", dst.ModTime())
	}
}

func TestGzip(t *testing.T) {
	root, _ := sandbox(t)
	b := mktar(t, ent{name: "f", body: "z"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	res, err := Apply(context.Background(), root, &gz, Options{})
	if err != nil || res.DiffID != digest.FromBytes(b) {
		t.Fatalf("%v %v", err, res)
	}
}

func TestDotDot(t *testing.T) {
	root, outside := sandbox(t)
	for _, n := range []string{"../../../outside/evil", "a/../../../../outside/evil", ".."} {
		if _, err := apply(t, root, mktar(t, ent{name: n, body: "evil"})); err == nil {
			t.Fatalf("%s: no error", n)
		}
	}
	assertOutsideUntouched(t, outside)
}

func TestSymlinkParent(t *testing.T) {
	root, outside := sandbox(t)
	rel, _ := filepath.Rel(root, outside)
	for i, link := range []string{outside, rel, "../../../../../../../../" + outside} {
		b := mktar(t,
			ent{name: "l", typ: tar.TypeSymlink, link: link},
			ent{name: "l/secret", body: "evil"},
			ent{name: "l/new", body: "evil"},
		)
		apply(t, root, b) // may fail or land inside; never outside
		assertOutsideUntouched(t, outside)
		os.RemoveAll(root)
		os.MkdirAll(root, 0o755)
		_ = i
	}
}

func TestSymlinkChain(t *testing.T) {
	root, outside := sandbox(t)
	b := mktar(t,
		ent{name: "a", typ: tar.TypeSymlink, link: "b"},
		ent{name: "b", typ: tar.TypeSymlink, link: "c/../../.."},
		ent{name: "c/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "a/outside/secret", body: "evil"},
		ent{name: "a/outside/new", body: "evil"},
	)
	apply(t, root, b)
	assertOutsideUntouched(t, outside)
}

func TestSymlinkFinalComponent(t *testing.T) {
	// Writing a file over a symlink replaces the link; it never writes through it.
	root, outside := sandbox(t)
	b := mktar(t,
		ent{name: "s", typ: tar.TypeSymlink, link: filepath.Join(outside, "secret")},
		ent{name: "s", body: "evil"},
	)
	if _, err := apply(t, root, b); err != nil {
		t.Fatal(err)
	}
	assertOutsideUntouched(t, outside)
	if b, _ := os.ReadFile(filepath.Join(root, "s")); string(b) != "evil" {
		t.Fatal("file not written in place of the link")
	}
}

func TestHardlinkOutside(t *testing.T) {
	root, outside := sandbox(t)
	rel, _ := filepath.Rel(root, filepath.Join(outside, "secret"))
	for _, link := range []string{filepath.Join(outside, "secret"), rel} {
		apply(t, root, mktar(t, ent{name: "h", typ: tar.TypeLink, link: link}))
		if st, err := os.Stat(filepath.Join(root, "h")); err == nil {
			ost, _ := os.Stat(filepath.Join(outside, "secret"))
			if os.SameFile(st, ost) {
				t.Fatalf("hardlink %q reached outside", link)
			}
		}
	}
	// Hardlink through a symlinked parent.
	b := mktar(t,
		ent{name: "l", typ: tar.TypeSymlink, link: outside},
		ent{name: "h2", typ: tar.TypeLink, link: "l/secret"},
	)
	apply(t, root, b)
	if st, err := os.Stat(filepath.Join(root, "h2")); err == nil {
		ost, _ := os.Stat(filepath.Join(outside, "secret"))
		if os.SameFile(st, ost) {
			t.Fatal("hardlink through symlink reached outside")
		}
	}
	assertOutsideUntouched(t, outside)
}

func TestTruncated(t *testing.T) {
	root, _ := sandbox(t)
	b := mktar(t, ent{name: "f", body: string(make([]byte, 4000))})
	if _, err := apply(t, root, b[:1500]); err == nil {
		t.Fatal("truncated tar accepted")
	}
}

func TestWhiteoutsOverlay(t *testing.T) {
	needRoot(t)
	root, _ := sandbox(t)
	b := mktar(t,
		ent{name: "d/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "d/.wh..wh..opq"},
		ent{name: "d/keep", body: "k"},
		ent{name: ".wh.gone"},
	)
	if _, err := apply(t, root, b); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("whiteout: %v %+v", err, st)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(root, "d"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Fatalf("opaque: %v %q", err, buf[:n])
	}
	if _, err := os.Stat(filepath.Join(root, "d", ".wh..wh..opq")); err == nil {
		t.Fatal("opaque marker written as a file")
	}
}

func TestWhiteoutsRemove(t *testing.T) {
	root, _ := sandbox(t)
	os.MkdirAll(filepath.Join(root, "d/old"), 0o755)
	os.WriteFile(filepath.Join(root, "gone"), nil, 0o644)
	b := mktar(t,
		ent{name: "d/new", body: "n"},
		ent{name: "d/.wh..wh..opq"},
		ent{name: ".wh.gone"},
	)
	if _, err := Apply(context.Background(), root, bytes.NewReader(b), Options{Whiteouts: RemoveWhiteouts}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "gone")); err == nil {
		t.Fatal("whiteout did not remove")
	}
	if _, err := os.Lstat(filepath.Join(root, "d/old")); err == nil {
		t.Fatal("opaque did not remove old content")
	}
	if _, err := os.Lstat(filepath.Join(root, "d/new")); err != nil {
		t.Fatal("opaque removed this layer's content")
	}
}

func TestOwnersDevicesXattrs(t *testing.T) {
	needRoot(t)
	root, _ := sandbox(t)
	b := mktar(t,
		ent{name: "owned", body: "o", uid: 1234, mode: 0o4755},
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		ent{name: "null", typ: tar.TypeChar, mode: 0o666},
		ent{name: "x", body: "x", pax: map[string]string{"SCHILY.xattr.user.test": "v"}},
		ent{name: "forged", body: "x", pax: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc"}},
	)
	if _, err := apply(t, root, b); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "owned"), &st)
	if st.Uid != 1234 || st.Gid != 1234 || st.Mode&0o7777 != 0o4755 {
		t.Fatalf("owner/mode: %+v", st)
	}
	unix.Lstat(filepath.Join(root, "fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Fatal("fifo")
	}
	unix.Lstat(filepath.Join(root, "null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatal("char device")
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(root, "x"), "user.test", buf); err == nil && string(buf[:n]) != "v" {
		t.Fatalf("xattr %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "forged"), "trusted.overlay.redirect", buf); err == nil {
		t.Fatal("overlay xattr taken from the layer")
	}
}

func TestZstd(t *testing.T) {
	root, _ := sandbox(t)
	plain := mktar(t, ent{name: "z", body: "zstd body"})
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	comp := enc.EncodeAll(plain, nil)
	res, err := apply(t, root, comp)
	if err != nil {
		t.Fatal(err)
	}
	if res.DiffID != digest.FromBytes(plain) {
		t.Fatalf("diff ID %s, want the uncompressed tar's", res.DiffID)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "z")); string(b) != "zstd body" {
		t.Fatalf("z = %q", b)
	}
	if d, err := DiffID(bytes.NewReader(comp)); err != nil || d != res.DiffID {
		t.Fatalf("DiffID: %v %s", err, d)
	}
	// A corrupt frame is the layer's fault.
	bad := append([]byte{}, comp...)
	bad[len(bad)/2] ^= 0xff
	if _, err := DiffID(bytes.NewReader(bad)); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("corrupt zstd: %v", err)
	}
}

// The speed-up caches (known directories, the last parent opened) must
// follow a symlink replaced by a directory, and a directory by a file.
func TestCachesFollowReplacements(t *testing.T) {
	root, outside := sandbox(t)
	b := mktar(t,
		ent{name: "x/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "b", typ: tar.TypeSymlink, link: "x"},
		ent{name: "b/f", body: "through the link"},
		ent{name: "b", typ: tar.TypeDir, mode: 0o755},
		ent{name: "b/g", body: "in the dir"},
		ent{name: "d/e/h", body: "deep"},
		ent{name: "d/e", body: "now a file"},
		ent{name: "d/e2/i", body: "beside"},
	)
	if _, err := apply(t, root, b); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"x/f": "through the link", "b/g": "in the dir", "d/e": "now a file", "d/e2/i": "beside"} {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != want {
			t.Fatalf("%s: %q %v", p, got, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "x", "g")); err == nil {
		t.Fatal("b/g went through the replaced link")
	}
	assertOutsideUntouched(t, outside)
}

// A whiteout drops the caches: files after it go where they belong.
func TestCachesFollowWhiteouts(t *testing.T) {
	root, _ := sandbox(t)
	b := mktar(t,
		ent{name: "d/a", body: "1"},
		ent{name: "d/.wh..wh..opq", body: ""},
		ent{name: "d/b", body: "2"},
		ent{name: ".wh.d", body: ""},
		ent{name: "d/c", body: "3"},
	)
	if _, err := Apply(context.Background(), root, bytes.NewReader(b), Options{Whiteouts: RemoveWhiteouts}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "d", "c")); err != nil || string(got) != "3" {
		t.Fatalf("d/c: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(root, "d", "a")); err == nil {
		t.Fatal("d/a survived the whiteout of d")
	}
}
