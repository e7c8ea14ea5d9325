package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// The store's commit points, in the order a load passes them, and whether
// the image is recorded once the process dies there.
var loadFailpoints = []struct {
	name     string
	recorded bool
}{
	{"load-checked", false},       // archive checked, nothing stored
	{"content-commit", false},     // a blob's data synced, not yet renamed under its digest
	{"content-committed", false},  // a blob renamed under its digest, its ingest dir still there
	{"unpack-applied", false},     // a layer applied to its active snapshot, not committed
	{"snapshot-commit", false},    // the layer synced, the record still says active
	{"snapshot-committed", false}, // the record says committed, the overlay work dir still there
	{"image-record", false},       // every blob and layer stored, no name yet
	{"image-recorded", true},      // the name recorded, the reply not sent
}

// A supervisord killed at each commit point of a load (BERTH_FAILPOINT:
// SIGKILL, no cleanup) restarts with a consistent store: no image without
// all its blobs and its committed layers, no active snapshot, no snapshot
// directory without a record, no overlay work dir in a committed layer, no
// mount; every blob matches its digest. Loading again succeeds, and once the
// image is removed a garbage collection leaves nothing: no blob, snapshot,
// ingest or temporary file.
func TestSupervisorFailpointsLoad(t *testing.T) {
	bin := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, bin != "", "BERTH_BIN_DIR with bin/supervisord (make test-integration)")
	img, err := image.New([][]byte{randomLayer(t, "a", 256<<10), randomLayer(t, "b", 128<<10)}, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	if err := img.WriteDockerArchiveTo(&arch, "fp:1"); err != nil {
		t.Fatal(err)
	}
	load := func(ctx context.Context, c *client.Client) error {
		_, err := c.Import(ctx, bytes.NewReader(arch.Bytes()), "")
		return err
	}
	for _, fp := range loadFailpoints {
		t.Run(fp.name, func(t *testing.T) {
			crashAt(t, bin, fp.name, fp.recorded, load, "docker.io/library/fp:1")
		})
	}
}

// The commit points a pull passes (the resumable ingest's commit, not the
// load's one-shot write), each killed and checked as for a load.
func TestSupervisorFailpointsPull(t *testing.T) {
	bin := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, bin != "", "BERTH_BIN_DIR with bin/supervisord (make test-integration)")
	reg := startRegistry(t, false)
	img, err := image.New([][]byte{randomLayer(t, "a", 256<<10), randomLayer(t, "b", 128<<10)}, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	if err := img.WriteDockerArchiveTo(&arch, "fp:1"); err != nil {
		t.Fatal(err)
	}
	a := newSvEnv(t, false)
	if _, err := a.importArchive(svCtx(t), arch.Bytes(), ""); err != nil {
		t.Fatal(err)
	}
	ref := reg.host + "/fp:1"
	if _, _, err := a.push(t, "fp:1", ref, nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	pull := func(ctx context.Context, c *client.Client) error {
		_, err := c.Pull(ctx, ref, nil, nil)
		return err
	}
	for _, fp := range []struct {
		name     string
		recorded bool
	}{{"content-commit", false}, {"unpack-applied", false}, {"snapshot-commit", false}, {"image-record", false}} {
		t.Run(fp.name, func(t *testing.T) {
			crashAt(t, bin, fp.name, fp.recorded, pull, ref)
		})
	}
}

// crashAt runs do on a supervisord armed to die at failpoint fp, restarts
// it and checks the store; then do must succeed, and once the image name
// is removed a collection must leave nothing.
func crashAt(t *testing.T, bin, fp string, recorded bool, do func(context.Context, *client.Client) error, name string) {
	dir, err := os.MkdirTemp("", "fp")
	if err != nil {
		t.Fatal(err)
	}
	o := &outOfProcess{bin: filepath.Join(bin, "supervisord"), root: filepath.Join(dir, "root"),
		state: filepath.Join(dir, "state"), sock: filepath.Join(dir, "s.sock"), env: []string{failpoint.Env + "=" + fp}}
	t.Cleanup(func() {
		o.kill9()
		svUnmountUnder(dir)
		os.RemoveAll(dir)
	})
	c := o.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := do(ctx, c); err == nil {
		t.Fatalf("it succeeded: failpoint %s was not reached", fp)
	}
	c.Close()
	werr := o.cmd.Wait()
	o.cmd = nil
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("supervisord did not die at %s: %v", fp, werr)
	}

	o.env = nil
	c = o.start(t)
	defer c.Close()
	checkStoreConsistent(t, c, o.root)
	imgs, err := c.ImageService().List(ctx, &pb.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(imgs.Images); got != 0 != recorded {
		t.Fatalf("after a kill at %s: %d images, recorded %v expected", fp, got, recorded)
	}
	if err := do(ctx, c); err != nil {
		t.Fatalf("again: %v", err)
	}
	checkStoreConsistent(t, c, o.root)
	if _, err := c.ImageService().Delete(ctx, &pb.DeleteImageRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	if left := storeLeftovers(t, c, o.root); len(left) > 0 {
		t.Fatalf("after removing the image and collecting: %v", left)
	}
}

// checkStoreConsistent checks the invariants a crash must not break.
func checkStoreConsistent(t *testing.T, c *client.Client, root string) {
	t.Helper()
	ctx := context.Background()
	cl, err := c.ContentService().List(ctx, &pb.ListContentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]bool{}
	for _, i := range cl.Info {
		b, err := c.ReadBlob(ctx, i.Digest)
		if err != nil || digest.FromBytes(b).String() != i.Digest || int64(len(b)) != i.Size {
			t.Fatalf("blob %s: %v (%d bytes, %d recorded)", i.Digest, err, len(b), i.Size)
		}
		blobs[i.Digest] = true
	}
	sl, err := c.SnapshotService().List(ctx, &pb.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{}
	for _, s := range sl.Info {
		if s.Kind != pb.SnapshotKind_SNAPSHOT_KIND_COMMITTED {
			t.Fatalf("snapshot %s is %v after a restart", s.Name, s.Kind)
		}
		committed[s.Name] = true
	}
	il, err := c.ImageService().List(ctx, &pb.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range il.Images {
		for _, d := range []string{i.Target.GetDigest(), i.Config.GetDigest()} {
			if !blobs[d] {
				t.Fatalf("image %s without its blob %s", i.Name, d)
			}
		}
		if !committed[i.ChainId] {
			t.Fatalf("image %s without its layers (snapshot %s)", i.Name, i.ChainId)
		}
	}
	// On disk: every snapshot directory has a record, no overlay work dir
	// is left in a committed layer, nothing is mounted.
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots", "snapshots"))
	if len(ents) != len(sl.Info) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%d snapshot directories %v for %d snapshots", len(ents), names, len(sl.Info))
	}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(root, "snapshots", "snapshots", e.Name(), "work")); err == nil {
			t.Fatalf("committed snapshot %s kept its work dir", e.Name())
		}
	}
	if m := svMountsUnder(root); len(m) > 0 {
		t.Fatalf("mounts left: %v", m)
	}
}

// storeLeftovers lists what is left of anything a load made.
func storeLeftovers(t *testing.T, c *client.Client, root string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	cl, err := c.ContentService().List(ctx, &pb.ListContentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range cl.Info {
		left = append(left, "blob "+i.Digest)
	}
	st, err := c.ContentService().ListStatuses(ctx, &pb.ListStatusesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Statuses {
		left = append(left, "ingest "+s.Ref)
	}
	sl, err := c.SnapshotService().List(ctx, &pb.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sl.Info {
		left = append(left, "snapshot "+s.Name)
	}
	for _, d := range []string{"snapshots/snapshots", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range ents {
			left = append(left, fmt.Sprintf("file %s/%s", d, e.Name()))
		}
	}
	filepath.WalkDir(filepath.Join(root, "content"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".db") && !strings.HasSuffix(p, ".json") {
			left = append(left, "file "+p)
		}
		return nil
	})
	return left
}
