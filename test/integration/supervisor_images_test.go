package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

func TestSupervisorImportDockerArchive(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	if img.Name != "docker.io/library/busybox:latest" || img.ChainId == "" || img.Config.GetDigest() == "" {
		t.Fatalf("imported: %+v", img)
	}
	id := img.Config.Digest
	for _, q := range []string{"busybox", "docker.io/library/busybox:latest", id, strings.TrimPrefix(id, "sha256:")[:12]} {
		r, err := e.images.Get(ctx, &pb.GetImageRequest{Name: q})
		if err != nil {
			t.Fatalf("get %q: %v", q, err)
		}
		if r.Image.Config.Digest != id {
			t.Fatalf("get %q: %s", q, r.Image.Config.Digest)
		}
	}
	// The config, read back from the content store (what the engine does).
	var cfg ocispec.Image
	if err := json.Unmarshal(e.readContent(t, ctx, id), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("config: %+v", cfg.RootFS)
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(e.readContent(t, ctx, img.Target.Digest), &mf); err != nil || mf.Config.Digest.String() != id {
		t.Fatalf("manifest: %v %+v", err, mf)
	}
	// The unpacked rootfs has busybox.
	v, err := e.snaps.View(ctx, &pb.ViewSnapshotRequest{Key: "view", Parent: img.ChainId})
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(e.dir, "view")
	os.Mkdir(target, 0o755)
	var mounts []snapshots.Mount
	for _, m := range v.Mounts {
		mounts = append(mounts, snapshots.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
	}
	if err := snapshots.MountAll(mounts, target); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(target, "bin/busybox"))
	snapshots.Unmount(target)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("bin/busybox: %v", err)
	}
	if _, err := e.snaps.Remove(ctx, &pb.RemoveSnapshotRequest{Key: "view"}); err != nil {
		t.Fatal(err)
	}
	// Images are per namespace.
	if _, err := e.images.Get(svOtherNS(ctx), &pb.GetImageRequest{Name: "busybox"}); status.Code(err) != codes.NotFound {
		t.Fatalf("other namespace: %v", err)
	}
	// Server info.
	si, err := e.intro.Server(ctx, &pb.ServerRequest{})
	if err != nil || si.Uuid == "" || si.Snapshotter != "overlayfs" {
		t.Fatalf("server: %v %+v", err, si)
	}
	if _, err := e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Get(ctx, &pb.GetImageRequest{Name: "busybox"}); status.Code(err) != codes.NotFound {
		t.Fatalf("after delete: %v", err)
	}
}

func TestSupervisorImportOCILayout(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	dir := filepath.Join(e.dir, "layout")
	if err := image.WriteOCILayout(dir, "example.com/test/busybox:v1"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
		return nil
	})
	tw.Close()
	resp, err := e.importArchive(ctx, buf.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 1 || resp.Images[0].Name != "example.com/test/busybox:v1" || resp.Images[0].ChainId == "" {
		t.Fatalf("imported: %+v", resp.Images)
	}
}

func TestSupervisorImportHostile(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	var good bytes.Buffer
	if err := image.DockerArchive(&good, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	// Replace the layer by a different, valid tar: its digest no longer
	// matches the config's diff ID.
	mismatch := svRewriteArchive(t, good.Bytes(), func(name string, body []byte) []byte {
		if strings.HasSuffix(name, "layer.tar") || (strings.HasPrefix(name, "blobs/") && len(body) > 100000) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "evil", Size: 1, Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
			tw.Close()
			return b.Bytes()
		}
		return body
	})
	badJSON := svRewriteArchive(t, good.Bytes(), func(name string, body []byte) []byte {
		if name == "manifest.json" {
			return []byte(`[{"Config": `)
		}
		return body
	})
	cases := map[string][]byte{
		"truncated":       good.Bytes()[:good.Len()/2],
		"digest mismatch": mismatch,
		"bad json":        badJSON,
		"empty":           {},
	}
	for name, data := range cases {
		_, err := e.importArchive(ctx, data, "")
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: want InvalidArgument, got %v", name, err)
		}
	}
	l, err := e.images.List(ctx, &pb.ListImagesRequest{})
	if err != nil || len(l.Images) != 0 {
		t.Fatalf("images after hostile imports: %v %+v", err, l)
	}
	sl, _ := e.snaps.List(ctx, &pb.ListSnapshotsRequest{})
	for _, s := range sl.Info {
		if s.Kind != pb.SnapshotKind_SNAPSHOT_KIND_COMMITTED {
			t.Fatalf("active snapshot left: %+v", s)
		}
	}
	// The store is still usable.
	e.importBusybox(t, ctx, "busybox:latest")
}

func svRewriteArchive(t *testing.T, data []byte, fn func(name string, body []byte) []byte) []byte {
	return svRewriteEntries(t, data, func(h *tar.Header, body []byte) []byte {
		if h.Typeflag == tar.TypeReg {
			return fn(h.Name, body)
		}
		return body
	})
}

// svRewriteEntries copies a tar, each entry's header and body through fn.
func svRewriteEntries(t *testing.T, data []byte, fn func(h *tar.Header, body []byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var body bytes.Buffer
		body.ReadFrom(tr)
		b := fn(h, body.Bytes())
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(b))
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	return out.Bytes()
}
