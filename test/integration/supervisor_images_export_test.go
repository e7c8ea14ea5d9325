package integration

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

func (e *svEnv) export(t *testing.T, format string, names ...string) []byte {
	t.Helper()
	st, err := e.images.Export(svCtx(t), &pb.ExportRequest{Names: names, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return buf.Bytes()
		}
		if err != nil {
			t.Fatalf("export: %v", errdefs.FromGRPC(err))
		}
		buf.Write(m.Data)
	}
}

// save then load keeps every digest, in both formats; podman loads what we
// save; an OCI archive written by skopeo loads into ours.
func TestSupervisorImagesExportRoundTrip(t *testing.T) {
	a := newSvEnv(t, false)
	ctx := svCtx(t)
	src := a.importBusybox(t, ctx, "busybox:latest")
	for _, format := range []string{"docker-archive", "oci-archive"} {
		data := a.export(t, format, "busybox")
		b := newSvEnv(t, false)
		resp, err := b.importArchive(svCtx(t), data, "")
		if err != nil {
			t.Fatalf("%s: import: %v", format, err)
		}
		got := resp.Images[0]
		if got.Name != src.Name || got.Target.Digest != src.Target.Digest || got.Config.Digest != src.Config.Digest || got.ChainId != src.ChainId {
			t.Fatalf("%s: round trip changed the image:\n%+v\n%+v", format, got, src)
		}
		if again := b.export(t, format, "busybox"); !bytes.Equal(again, data) {
			t.Fatalf("%s: a second export differs", format)
		}
	}
	if st, err := a.images.Export(ctx, &pb.ExportRequest{Names: []string{"busybox"}, Format: "zip"}); err == nil {
		if _, err := st.Recv(); !errdefs.IsInvalidArgument(errdefs.FromGRPC(err)) {
			t.Fatalf("export as zip: %v", err)
		}
	}

	dir := t.TempDir()
	saved := filepath.Join(dir, "saved.tar")
	if err := os.WriteFile(saved, a.export(t, "docker-archive", "busybox"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := exec.LookPath("podman")
	testprereq.Require(t, err == nil, "podman")
	pdir, err := os.MkdirTemp("", "bp") // podman wants a short runroot
	if err != nil {
		t.Fatal(err)
	}
	proot, prun := filepath.Join(pdir, "root"), filepath.Join(pdir, "run")
	podman := func(args ...string) (string, error) {
		out, err := exec.Command("podman", append([]string{"--root", proot, "--runroot", prun, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { podman("system", "reset", "--force"); svUnmountUnder(pdir); os.RemoveAll(pdir) })
	if out, err := podman("load", "-i", saved); err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	out, err := podman("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	if err != nil || !strings.Contains(out, strings.TrimPrefix(src.Config.Digest, "sha256:")) || !strings.Contains(out, "busybox:latest") {
		t.Fatalf("podman images: %v\n%s", err, out)
	}

	_, err = exec.LookPath("skopeo")
	testprereq.Require(t, err == nil, "skopeo")
	ociTar := filepath.Join(dir, "skopeo-oci.tar")
	if out, err := exec.Command("skopeo", "copy", "docker-archive:"+saved, "oci-archive:"+ociTar+":latest").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(ociTar)
	c := newSvEnv(t, false)
	resp, err := c.importArchive(svCtx(t), data, "skopeo/busybox")
	if err != nil {
		t.Fatalf("import of skopeo's OCI archive: %v", err)
	}
	if got := resp.Images[0]; got.Config.Digest != src.Config.Digest || got.Name != "docker.io/skopeo/busybox:latest" {
		t.Fatalf("skopeo's archive imported as %+v", got)
	}
}

// Images.Create tags; garbage collection removes what nothing references
// and keeps what an image, an active snapshot or a lease does.
func TestSupervisorImagesTagAndGC(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	bb := e.importBusybox(t, ctx, "busybox:latest")
	if _, err := e.images.Create(ctx, &pb.CreateImageRequest{Image: &pb.Image{Name: "alias:v1", Target: bb.Target}}); err != nil {
		t.Fatalf("tag: %v", err)
	}
	if _, err := e.images.Create(ctx, &pb.CreateImageRequest{Image: &pb.Image{Name: "alias:v1", Target: &pb.Descriptor{Digest: "sha256:" + strings.Repeat("0", 64)}}}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		t.Fatalf("tag of an unknown target: %v", err)
	}
	got, err := e.images.Get(ctx, &pb.GetImageRequest{Name: "alias:v1"})
	if err != nil || got.Image.ChainId != bb.ChainId || got.Image.Name != "docker.io/library/alias:v1" {
		t.Fatalf("get tag: %v %+v", err, got)
	}

	img, err := image.New([][]byte{randomLayer(t, "junk", 1<<20)}, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	img.WriteDockerArchiveTo(&arch, "junk:1")
	resp, err := e.importArchive(ctx, arch.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	junk := resp.Images[0]
	gc := pb.NewLeasesClient(e.conn)
	r, err := gc.GarbageCollect(ctx, &pb.GarbageCollectRequest{})
	if err != nil || len(r.RemovedBlobs) != 0 || len(r.RemovedSnapshots) != 0 {
		t.Fatalf("gc with everything referenced: %v %+v", err, r)
	}
	if _, err := e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "junk:1"}); err != nil {
		t.Fatal(err)
	}
	// A lease taken now protects nothing older.
	if _, err := gc.Create(ctx, &pb.CreateLeaseRequest{Id: "l1"}); err != nil {
		t.Fatal(err)
	}
	r, err = gc.GarbageCollect(ctx, &pb.GarbageCollectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{junk.Target.Digest: true, junk.Config.Digest: true}
	for _, d := range r.RemovedBlobs {
		delete(want, d)
	}
	if len(want) != 0 || len(r.RemovedBlobs) != 3 || len(r.RemovedSnapshots) != 1 || r.ReclaimedBytes < 1<<20 {
		t.Fatalf("gc after the delete: %+v (missing %v)", r, want)
	}
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: junk.ChainId}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		t.Fatalf("junk's snapshot: %v", err)
	}
	// busybox, referenced by alias:v1 only, stays; so does a lease's import.
	e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "busybox"})
	resp, err = e.importArchive(ctx, arch.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "junk:1"})
	if r, err = gc.GarbageCollect(ctx, &pb.GarbageCollectRequest{}); err != nil || len(r.RemovedBlobs) != 0 {
		t.Fatalf("gc under a lease: %v %+v", err, r)
	}
	for _, d := range []string{bb.Target.Digest, bb.Config.Digest} {
		if _, err := e.cont.Info(ctx, &pb.InfoRequest{Digest: d}); err != nil {
			t.Fatalf("busybox blob %s: %v", d, err)
		}
	}
	// An active snapshot on busybox keeps its parent chain after the last name goes.
	if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "ctr", Parent: bb.ChainId}); err != nil {
		t.Fatal(err)
	}
	e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "alias:v1"})
	gc.Delete(ctx, &pb.DeleteLeaseRequest{Id: "l1"})
	if r, err = gc.GarbageCollect(ctx, &pb.GarbageCollectRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: bb.ChainId}); err != nil {
		t.Fatalf("busybox layer under an active snapshot: %v (gc %+v)", err, r)
	}
	if len(r.RemovedBlobs) != 6 { // busybox's three and junk's three
		t.Fatalf("gc of everything unnamed removed %d blobs: %+v", len(r.RemovedBlobs), r)
	}
	u, err := e.snaps.Usage(ctx, &pb.UsageRequest{Key: bb.ChainId})
	if err != nil || u.Size < 1<<20 || u.Inodes < 10 {
		t.Fatalf("usage of busybox's layer: %v %+v", err, u)
	}
	_ = fmt.Sprint
}
