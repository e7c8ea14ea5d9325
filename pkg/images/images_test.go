package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/berthd/berth/pkg/archive/archivetest"
	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/native"
	"github.com/berthd/berth/pkg/snapshots/overlay"
	"github.com/berthd/berth/pkg/testprereq"
)

func needRoot(t *testing.T) {
	t.Helper()
	testprereq.Root(t)
}

type file struct {
	name, body string
	typ        byte
}

func tarOf(t testing.TB, files ...file) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: f.typ}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return buf.Bytes()
}

// dockerArchive builds a docker-archive; mutate may change its parts.
func dockerArchive(t testing.TB, tags []string, layers [][]byte, mutate func(cfg map[string]any, files map[string][]byte)) []byte {
	var diffIDs []string
	var names []string
	files := map[string][]byte{}
	for i, l := range layers {
		diffIDs = append(diffIDs, digest.FromBytes(l).String())
		n := string(rune('a'+i)) + "/layer.tar"
		names = append(names, n)
		files[n] = l
	}
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}}
	if mutate != nil {
		mutate(cfg, files)
	}
	cb, _ := json.Marshal(cfg)
	cfgName := digest.FromBytes(cb).Encoded() + ".json"
	files[cfgName] = cb
	if _, ok := files["manifest.json"]; !ok {
		mb, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": tags, "Layers": names}})
		files["manifest.json"] = mb
	}
	var fl []file
	for n, b := range files {
		if b != nil {
			fl = append(fl, file{name: n, body: string(b)})
		}
	}
	return tarOf(t, fl...)
}

func newStore(t *testing.T) *Store { return newStoreOn(t, "overlayfs") }

// newStoreOn makes a store on the overlayfs or the native snapshotter.
func newStoreOn(t *testing.T, snapshotter string) *Store {
	root := t.TempDir()
	db, err := metadata.Open(filepath.Join(root, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs, _ := content.New(filepath.Join(root, "content"))
	var sn snapshots.Snapshotter
	var err2 error
	if snapshotter == "native" {
		sn, err2 = native.New(filepath.Join(root, "snapshots"))
	} else {
		sn, err2 = overlay.New(filepath.Join(root, "snapshots"))
	}
	if err2 != nil {
		t.Fatal(err2)
	}
	t.Cleanup(func() { sn.Close() })
	os.Mkdir(filepath.Join(root, "tmp"), 0o700)
	return NewStore(db, cs, sn, filepath.Join(root, "tmp"))
}

func TestImportDocker(t *testing.T) {
	needRoot(t) // the second layer is applied on a mounted overlay, or copies owners
	for _, sn := range []string{"overlayfs", "native"} {
		t.Run(sn, func(t *testing.T) { testImportDocker(t, newStoreOn(t, sn)) })
	}
}

func testImportDocker(t *testing.T, s *Store) {
	ctx := context.Background()
	l1 := tarOf(t, file{name: "bin/", typ: tar.TypeDir}, file{name: "bin/busybox", body: "bb"}, file{name: "etc/gone", body: "x"})
	l2 := tarOf(t, file{name: "etc/.wh.gone"}, file{name: "etc/new", body: "n"})
	arch := dockerArchive(t, []string{"busybox", "example.com/x/y:v1"}, [][]byte{l1, l2}, nil)
	imgs, err := s.Import(ctx, bytes.NewReader(arch), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Name != "docker.io/library/busybox:latest" || imgs[1].Name != "example.com/x/y:v1" {
		t.Fatalf("names: %+v", imgs)
	}
	want := identity.ChainID([]digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2)})
	if imgs[0].ChainID != want {
		t.Fatalf("chain %s != %s", imgs[0].ChainID, want)
	}
	for _, q := range []string{"busybox", "busybox:latest", imgs[0].ID().String(), imgs[0].ID().Encoded()[:6], "sha256:" + imgs[0].ID().Encoded()[:8]} {
		img, err := s.Get(ctx, q)
		if err != nil || img.ID() != imgs[0].ID() {
			t.Fatalf("get %q: %v", q, err)
		}
	}
	if _, err := s.Get(ctx, "nothere"); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	// The unpacked rootfs.
	m, err := s.snaps.View(ctx, "v", string(imgs[0].ChainID), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := snapshots.MountAll(m, dir); err != nil {
		t.Fatal(err)
	}
	defer snapshots.Unmount(dir)
	if _, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/gone")); err == nil {
		t.Fatal("whiteout ignored")
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/new")); err != nil {
		t.Fatal(err)
	}
	snapshots.Unmount(dir)
	// A second import reuses the layers.
	if _, err := s.Import(ctx, bytes.NewReader(arch), ""); err != nil {
		t.Fatal(err)
	}
	l, _ := s.snaps.List(ctx)
	if len(l) != 3 { // two layers and the view
		t.Fatalf("snapshots: %+v", l)
	}
	if err := s.Delete(ctx, "busybox"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "busybox"); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestImportHostile(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l1 := tarOf(t, file{name: "bin/busybox", body: "bb"})
	good := dockerArchive(t, []string{"good"}, [][]byte{l1}, nil)
	cases := map[string][]byte{
		"truncated": good[:len(good)/2+7],
		"bad json": dockerArchive(t, []string{"bad"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
			files["manifest.json"] = []byte("[{")
		}),
		"missing layer": dockerArchive(t, []string{"bad"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
			files["a/layer.tar"] = nil
		}),
		"diff id mismatch": dockerArchive(t, []string{"bad"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
			files["a/layer.tar"] = tarOf(t, file{name: "bin/evil", body: "x"})
		}),
		"layer count": dockerArchive(t, []string{"bad"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
			cfg["rootfs"] = map[string]any{"diff_ids": []string{}}
		}),
		"not an archive": []byte(strings.Repeat("x", 2000)),
		"hostile layer":  dockerArchive(t, []string{"bad"}, [][]byte{tarOf(t, file{name: "../../evil", body: "x"})}, nil),
		// A few hundred bytes that archive/tar would expand to a terabyte of
		// zeros: refused before a byte of it is hashed or written.
		"sparse archive": archivetest.SparseTar("manifest.json", 1<<40, false),
		"sparse layer":   dockerArchive(t, []string{"bad"}, [][]byte{archivetest.SparseTar("bin/big", 1<<40, true)}, nil),
	}
	for name, arch := range cases {
		_, err := s.Import(ctx, bytes.NewReader(arch), "")
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: want InvalidArgument, got %v", name, err)
		}
		if strings.HasPrefix(name, "sparse") && (err == nil || !strings.Contains(err.Error(), "sparse file")) {
			t.Errorf("%s: want the sparse entry named, got %v", name, err)
		}
	}
	l, _ := s.List(ctx)
	if len(l) != 0 {
		t.Fatalf("images recorded after failed imports: %+v", l)
	}
	sl, _ := s.snaps.List(ctx)
	for _, i := range sl {
		if i.Kind != snapshots.KindCommitted {
			t.Fatalf("left an active snapshot: %+v", i)
		}
	}
	if _, err := s.Import(ctx, bytes.NewReader(good), ""); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(s.tmp)
	if len(ents) != 0 {
		t.Fatalf("tmp leftovers: %v", ents)
	}
}
