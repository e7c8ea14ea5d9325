package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// Snapshots.Changes, Snapshots.Diff and Images.Compose, on both
// snapshotters, through pkg/client: a container's changes (a file added
// with its owner and mode, one changed, one deleted, a directory emptied
// and made again) are listed as dockerd lists them, written as a layer
// with OCI whiteouts (an opaque directory on overlayfs), composed with a
// config into an image with its history, and that image runs and shows
// them. Bad input is refused and leaves no image.
func TestSupervisorSnapshotDiffCompose(t *testing.T) {
	for _, sn := range []string{"overlayfs", "native"} {
		t.Run(sn, func(t *testing.T) {
			e := newSvEnv(t, true)
			e.stop(t)
			e.cfg.Snapshotter = sn
			e.start(t)
			ctx := svCtx(t)
			cl, err := client.New(e.cfg.Address, client.WithNamespace("test"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()

			bb, err := image.Busybox()
			if err != nil {
				t.Fatal(err)
			}
			extra := modeTar(t,
				tarEnt{name: "d/", typ: tar.TypeDir},
				tarEnt{name: "d/a", body: "old a\n"},
				tarEnt{name: "d/b", body: "b\n"},
				tarEnt{name: "opq/", typ: tar.TypeDir},
				tarEnt{name: "opq/x", body: "x\n"},
				tarEnt{name: "gone", body: "gone\n"},
			)
			baseImg, err := image.New([][]byte{bb.Layers[0], extra}, []string{"sh"})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := baseImg.WriteDockerArchiveTo(&buf, "base:1"); err != nil {
				t.Fatal(err)
			}
			imp, err := e.importArchive(ctx, buf.Bytes(), "")
			if err != nil {
				t.Fatal(err)
			}
			base := imp.Images[0]

			// The container's changes, made through its mounted rootfs.
			ms, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "work", Parent: base.ChainId})
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(e.dir, "work-root")
			os.Mkdir(root, 0o755)
			var mounts []snapshots.Mount
			for _, m := range ms.Mounts {
				mounts = append(mounts, snapshots.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
			}
			if err := snapshots.MountAll(mounts, root); err != nil {
				t.Fatal(err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					snapshots.Unmount(root)
					t.Fatal(err)
				}
			}
			must(os.WriteFile(filepath.Join(root, "new.txt"), []byte("committed\n"), 0o604))
			must(os.Chmod(filepath.Join(root, "new.txt"), 0o604))
			must(os.Lchown(filepath.Join(root, "new.txt"), 1000, 1001))
			must(os.WriteFile(filepath.Join(root, "d/a"), []byte("new a\n"), 0o644))
			must(os.Remove(filepath.Join(root, "gone")))
			must(os.RemoveAll(filepath.Join(root, "opq")))
			must(os.Mkdir(filepath.Join(root, "opq"), 0o755))
			must(os.WriteFile(filepath.Join(root, "opq/y"), []byte("y\n"), 0o644))
			must(os.Symlink("../new.txt", filepath.Join(root, "d/link")))
			must(snapshots.Unmount(root))

			changes, err := cl.SnapshotChanges(ctx, "work")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, c := range changes {
				got[c.Path] = [...]string{"C", "A", "D"}[c.Kind]
			}
			want := map[string]string{"/new.txt": "A", "/d": "C", "/d/a": "C", "/d/link": "A", "/gone": "D", "/opq/y": "A"}
			if sn == "overlayfs" {
				want["/opq"] = "D" // dockerd's overlay2: an opaque directory that existed is deleted
			} else {
				want["/opq"], want["/opq/x"] = "C", "D"
			}
			for p, k := range want {
				if got[p] != k {
					t.Errorf("change %s: %q, want %q (all: %v)", p, got[p], k, got)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("unexpected change %s %s", got[p], p)
				}
			}

			if ex, err := cl.SnapshotChanges(ctx, "work", "/d/link", "/opq"); err != nil || len(ex) == 0 {
				t.Fatal(err)
			} else {
				for _, c := range ex {
					if c.Path == "/d/link" || strings.HasPrefix(c.Path, "/opq") {
						t.Errorf("excluded path listed: %s", c.Path)
					}
				}
			}

			var diff *pb.DiffSnapshotResponse
			err = cl.WithLease(ctx, 0, "test", func(lease string) error {
				diff, err = cl.DiffSnapshot(ctx, "work", lease, false)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// A failure inside the lease leaves no lease behind.
			if err := cl.WithLease(ctx, time.Minute, "test", func(lease string) error {
				if _, err := cl.DiffSnapshot(ctx, "work", lease, false); err != nil {
					return err
				}
				return errors.New("the caller fails")
			}); err == nil {
				t.Fatal("WithLease hid fn's error")
			}
			if ls, err := cl.LeasesService().List(ctx, &pb.ListLeasesRequest{}); err != nil || len(ls.Leases) != 0 {
				t.Errorf("leases left: %v %v", ls, err)
			}
			blob := e.readContent(t, ctx, diff.Layer.Digest)
			if digest.FromBytes(blob).String() != diff.Layer.Digest || int64(len(blob)) != diff.Layer.Size || diff.Layer.MediaType != ocispec.MediaTypeImageLayerGzip {
				t.Fatalf("layer descriptor %+v does not describe the blob (%d bytes)", diff.Layer, len(blob))
			}
			zr, err := gzip.NewReader(bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(zr)
			if digest.FromBytes(raw).String() != diff.DiffId {
				t.Fatalf("diff ID %s is not the tar's digest", diff.DiffId)
			}
			hdrs := map[string]*tar.Header{}
			var order []string
			tr := tar.NewReader(bytes.NewReader(raw))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				hdrs[h.Name] = h
				order = append(order, h.Name)
			}
			if h := hdrs["new.txt"]; h == nil || h.Mode&0o7777 != 0o604 || h.Uid != 1000 || h.Gid != 1001 {
				t.Errorf("new.txt: %+v", h)
			}
			if h := hdrs["d/link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "../new.txt" {
				t.Errorf("d/link: %+v", h)
			}
			if hdrs[".wh.gone"] == nil || hdrs["d/a"] == nil || hdrs["opq/y"] == nil || hdrs["d/"] == nil {
				t.Errorf("layer entries: %v", order)
			}
			if sn == "overlayfs" && hdrs["opq/.wh..wh..opq"] == nil {
				t.Errorf("no opaque marker: %v", order)
			}
			if sn == "native" && hdrs["opq/.wh.x"] == nil {
				t.Errorf("no whiteout of opq/x: %v", order)
			}
			if hdrs["d/b"] != nil || hdrs["bin/busybox"] != nil {
				t.Errorf("unchanged files in the layer: %v", order)
			}
			for _, n := range order {
				if strings.Contains(n, "trusted.overlay") || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "./") {
					t.Errorf("bad entry name %q", n)
				}
			}

			// Compose: the base, the layer, a config with a new command,
			// and history with a metadata-only step.
			var bcfg map[string]any
			if err := json.Unmarshal(e.readContent(t, ctx, base.Config.Digest), &bcfg); err != nil {
				t.Fatal(err)
			}
			delete(bcfg, "rootfs")
			delete(bcfg, "history")
			bcfg["config"] = map[string]any{"Cmd": []string{"sh", "-c", "cat /new.txt /d/a; ls /opq; test -e /gone || echo no-gone"}}
			bcfg["author"] = "tester"
			cfgJSON, _ := json.Marshal(bcfg)
			before, _ := e.images.List(ctx, &pb.ListImagesRequest{})
			layer := &pb.ComposeLayer{Blob: diff.Layer, DiffId: diff.DiffId}
			history := []*pb.HistoryEntry{{CreatedBy: "commit", Author: "tester", Comment: "a test"}, {CreatedBy: "CMD", EmptyLayer: true}}
			for _, bad := range []struct {
				req   *pb.ComposeImageRequest
				class error
			}{
				{&pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{layer}, Config: []byte("{nope")}, errdefs.ErrInvalidArgument},
				{&pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{layer}, Config: []byte(`{"rootfs":{}}`)}, errdefs.ErrInvalidArgument},
				{&pb.ComposeImageRequest{Base: "nosuch:1", Layers: []*pb.ComposeLayer{layer}, Config: cfgJSON}, errdefs.ErrNotFound},
				{&pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{{Blob: &pb.Descriptor{Digest: digest.FromString("none").String()}, DiffId: diff.DiffId}}, Config: cfgJSON}, errdefs.ErrNotFound},
				{&pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{{Blob: diff.Layer, DiffId: digest.FromString("other").String()}}, Config: cfgJSON, Name: "bad:1"}, errdefs.ErrInvalidArgument},
				{&pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{layer}, Config: cfgJSON, History: history[1:]}, errdefs.ErrInvalidArgument},
			} {
				if _, err := cl.ComposeImage(ctx, bad.req); !errors.Is(err, bad.class) {
					t.Errorf("compose %v: %v, want %v", bad.req, err, bad.class)
				}
			}
			after, _ := e.images.List(ctx, &pb.ListImagesRequest{})
			if len(after.Images) != len(before.Images) {
				t.Fatalf("failed composes recorded images: %d -> %d", len(before.Images), len(after.Images))
			}
			img, err := cl.ComposeImage(ctx, &pb.ComposeImageRequest{Base: base.Name, Layers: []*pb.ComposeLayer{layer}, Config: cfgJSON, History: history, Name: "composed:1"})
			if err != nil {
				t.Fatal(err)
			}
			if img.Name != "docker.io/library/composed:1" || img.ChainId == "" {
				t.Fatalf("composed: %+v", img)
			}
			var cfg ocispec.Image
			if err := json.Unmarshal(e.readContent(t, ctx, img.Config.Digest), &cfg); err != nil {
				t.Fatal(err)
			}
			if n := len(cfg.RootFS.DiffIDs); n != 3 || cfg.RootFS.DiffIDs[2].String() != diff.DiffId {
				t.Errorf("rootfs: %v", cfg.RootFS.DiffIDs)
			}
			h := cfg.History
			if len(h) < 2 || h[len(h)-2].CreatedBy != "commit" || h[len(h)-2].Comment != "a test" || h[len(h)-2].EmptyLayer || !h[len(h)-1].EmptyLayer || cfg.Author != "tester" {
				t.Errorf("history: %+v", h)
			}

			// The image runs and shows the changes.
			if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "run-rootfs", Parent: img.ChainId}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ctrs.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{
				Id: "run", Image: img.Name, SnapshotKey: "run-rootfs",
				Spec: svSpec(t, e.cfg.Runtimes[0].Path, "run", cfg.Config.Cmd...),
			}}); err != nil {
				t.Fatal(err)
			}
			logPath := filepath.Join(e.dir, "run.log")
			if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "run", LogPath: logPath}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "run"}); err != nil {
				t.Fatal(err)
			}
			if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "run"}); err != nil || w.ExitStatus != 0 {
				t.Fatalf("wait: %v %+v", err, w)
			}
			e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "run"})
			logs, _ := os.ReadFile(logPath)
			for _, s := range []string{`committed\n`, `new a\n`, `"log":"y\n"`, `no-gone`} {
				if !strings.Contains(string(logs), s) {
					t.Errorf("run of the composed image: %s lacks %s", logs, s)
				}
			}
			if strings.Contains(string(logs), `"log":"x\n"`) {
				t.Errorf("opq/x survived: %s", logs)
			}

			// Bad input to Diff and Changes.
			if _, err := cl.DiffSnapshot(ctx, base.ChainId, "", false); !errdefs.IsFailedPrecondition(err) {
				t.Errorf("diff of a committed snapshot: %v", err)
			}
			if _, err := cl.DiffSnapshot(ctx, "work", "no-such-lease", false); !errdefs.IsNotFound(err) {
				t.Errorf("diff with an unknown lease: %v", err)
			}
			if _, err := cl.SnapshotChanges(ctx, "nosuch"); !errdefs.IsNotFound(err) {
				t.Errorf("changes of an unknown snapshot: %v", err)
			}

			// Commit: the active snapshot becomes the layer's chain.
			c, err := cl.DiffSnapshot(ctx, "work", "", true)
			if err != nil {
				t.Fatal(err)
			}
			if c.ChainId != img.ChainId || c.DiffId != diff.DiffId {
				t.Errorf("committed chain %s diff %s, want %s %s", c.ChainId, c.DiffId, img.ChainId, diff.DiffId)
			}
			if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: "work"}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
				t.Errorf("work still there after commit: %v", err)
			}
			if m := svMountsUnder(e.dir); len(m) != 0 {
				t.Errorf("mounts left: %v", m)
			}
			tmp, _ := os.ReadDir(filepath.Join(e.cfg.Root, "tmp"))
			for _, d := range tmp {
				if strings.HasPrefix(d.Name(), "diff-") {
					t.Errorf("left in tmp: %s", d.Name())
				}
			}
		})
	}
}

// modeTar is hostileTar with directories searchable (0755).
func modeTar(t *testing.T, ents ...tarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755, ModTime: time.Unix(1700000000, 0)}
		if e.typ == 0 {
			h.Typeflag, h.Size, h.Mode = tar.TypeReg, int64(len(e.body)), 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}
