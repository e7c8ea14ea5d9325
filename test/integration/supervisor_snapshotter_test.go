package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A task runs on the copying snapshotter: import, container snapshot,
// run, export, removal and garbage collection, all through the API.
func TestSupervisorNativeSnapshotter(t *testing.T) {
	e := newSvEnv(t, true)
	e.stop(t)
	e.cfg.Snapshotter = "native"
	e.start(t)
	ctx := svCtx(t)
	si, err := e.intro.Server(ctx, &pb.ServerRequest{})
	if err != nil || si.Snapshotter != "native" {
		t.Fatalf("server: %v %+v", err, si)
	}
	img0 := e.importBusybox(t, ctx, "busybox:latest")
	if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "n1-rootfs", Parent: img0.ChainId}); err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(svSpec(t, e.cfg.Runtimes[0].Path, "n1", "sh", "-c", "echo written >/marker && rm /bin/true && echo ran"), &spec); err != nil {
		t.Fatal(err)
	}
	spec.Root.Readonly = false // the container writes to its snapshot
	sb, _ := json.Marshal(&spec)
	if _, err := e.ctrs.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: "n1", Image: img0.Name, Spec: sb, SnapshotKey: "n1-rootfs"}}); err != nil {
		t.Fatal(err)
	}
	m, err := e.snaps.Mounts(ctx, &pb.MountsRequest{Key: "n1-rootfs"})
	if err != nil || len(m.Mounts) != 1 || m.Mounts[0].Type != "bind" {
		t.Fatalf("native mounts: %v %+v", err, m)
	}
	logPath := filepath.Join(e.dir, "n1.log")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "n1", LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "n1"}); err != nil {
		t.Fatal(err)
	}
	w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "n1"})
	if b, _ := os.ReadFile(logPath); err != nil || w.ExitStatus != 0 || !strings.Contains(string(b), `"log":"ran\n"`) {
		t.Fatalf("wait: %v %+v, log %q", err, w, b)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "n1"}); err != nil {
		t.Fatal(err)
	}
	// The container's changes are in its snapshot only.
	files := svExportSnapshot(t, e, "n1-rootfs")
	if files["marker"] != "written\n" || !svHas(files, "bin/busybox") || svHas(files, "bin/true") {
		t.Fatalf("export of the container's snapshot: marker %q, busybox %v, true %v", files["marker"], svHas(files, "bin/busybox"), svHas(files, "bin/true"))
	}
	img, err := e.images.Get(ctx, &pb.GetImageRequest{Name: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.snaps.View(ctx, &pb.ViewSnapshotRequest{Key: "image-view", Parent: img.Image.ChainId}); err != nil {
		t.Fatal(err)
	}
	files = svExportSnapshot(t, e, "image-view")
	if svHas(files, "marker") || !svHas(files, "bin/true") {
		t.Fatal("the container's changes reached the image's snapshot")
	}
	if _, err := e.snaps.Remove(ctx, &pb.RemoveSnapshotRequest{Key: "image-view"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Delete(ctx, &pb.DeleteImageRequest{Name: "busybox"}); err != nil {
		t.Fatal(err)
	}
	r, err := pb.NewLeasesClient(e.conn).GarbageCollect(ctx, &pb.GarbageCollectRequest{})
	if err != nil || len(r.RemovedSnapshots) != 1 || r.ReclaimedBytes == 0 {
		t.Fatalf("gc: %v %+v", err, r)
	}
	if l, err := e.snaps.List(ctx, &pb.ListSnapshotsRequest{}); err != nil || len(l.Info) != 0 {
		t.Fatalf("snapshots left: %v %+v", err, l)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.cfg.Root, "snapshots.native", "snapshots")); len(ents) != 0 {
		t.Fatalf("snapshot dirs left: %v", ents)
	}
	if m := svMountsUnder(e.dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
}

// With its root on overlayfs (where an overlay upperdir cannot be), the
// default snapshotter falls back to native, and images still unpack.
func TestSupervisorSnapshotterFallback(t *testing.T) {
	e := newSvEnv(t, false)
	e.stop(t)
	ovl := filepath.Join(e.dir, "ovl")
	for _, d := range []string{"lower", "upper", "work", "ovl"} {
		if err := os.Mkdir(filepath.Join(e.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + filepath.Join(e.dir, "lower") + ",upperdir=" + filepath.Join(e.dir, "upper") + ",workdir=" + filepath.Join(e.dir, "work")
	if err := unix.Mount("overlay", ovl, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.stop(t)
		if err := unix.Unmount(ovl, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Error(err)
		}
	})
	e.cfg.Root = filepath.Join(ovl, "root")
	e.start(t)
	ctx := svCtx(t)
	si, err := e.intro.Server(ctx, &pb.ServerRequest{})
	if err != nil || si.Snapshotter != "native" {
		t.Fatalf("server on overlayfs: %v %+v", err, si)
	}
	img := e.importBusybox(t, ctx, "busybox:latest")
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: img.ChainId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "c", Parent: img.ChainId}); err != nil {
		t.Fatal(err)
	}
	if files := svExportSnapshot(t, e, "c"); !svHas(files, "bin/busybox") {
		t.Fatal("no bin/busybox in a snapshot on the fallback")
	}
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("stat: %v", err)
	}
}

// svExportSnapshot reads Snapshots.Export of key: regular files' contents
// by path, other entries as "".
func svExportSnapshot(t *testing.T, e *svEnv, key string) map[string]string {
	t.Helper()
	ctx := svCtx(t)
	st, err := e.snaps.Export(ctx, &pb.ExportSnapshotRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("export %s: %v", key, err)
		}
		buf.Write(m.Data)
	}
	files := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimSuffix(h.Name, "/")] = string(b)
	}
}

func svHas(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
