package containers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// A wait registered before the start sees the exit, however fast it is.
func TestPrepareWaitBeforeStart(t *testing.T) {
	dir := t.TempDir()
	d, err := containers.New(context.Background(), containerstest.New(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"fail", "5"}}})
		if err != nil {
			t.Fatal(err)
		}
		wait, err := d.PrepareWait(c.ID, "next-exit")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the exit may well come before wait is called
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		code, err := wait(wctx)
		cancel()
		if err != nil || code != 5 {
			t.Fatalf("wait: %d %v", code, err)
		}
	}
	if _, err := d.PrepareWait("nosuch", ""); !errdefs.IsNotFound(err) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := d.PrepareWait(d.List(true, 1)[0].ID, "bogus"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad condition: %v", err)
	}
}

// After a crash, the engine and the supervisor are made to agree again.
func TestReconcileAfterCrash(t *testing.T) {
	dir := t.TempDir()
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := d.Create(ctx, containers.CreateOptions{Name: "keep", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, keep.ID); err != nil {
		t.Fatal(err)
	}
	gone, err := d.Create(ctx, containers.CreateOptions{Name: "gone", Config: &container.Config{Image: "busybox", Cmd: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	// A remove cut short after the supervisor forgot "gone"; a create cut
	// short after the supervisor made "orphan" and before the engine's record.
	if err := sup.DeleteContainer(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	img, _ := sup.GetImage(ctx, "docker.io/library/busybox:latest")
	if err := sup.NewContainer(ctx, "orphan", img, []byte(`{"process":{"args":["sleep"]}}`), "", nil); err != nil {
		t.Fatal(err)
	}
	if err := sup.CreateTask(ctx, "orphan", containers.TaskLog{Path: filepath.Join(dir, "orphan.log")}, false, false); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "containers", "orphan"), 0o700); err != nil {
		t.Fatal(err)
	}

	d, err = containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if c, err := d.Inspect(ctx, "keep"); err != nil || !c.State.Running {
		t.Errorf("keep: %v %+v", err, c.State)
	}
	if _, err := d.Get("gone"); !errdefs.IsNotFound(err) {
		t.Errorf("gone still listed: %v", err)
	}
	if ids, _ := sup.ListContainers(ctx); len(ids) != 1 || ids[0] != keep.ID {
		t.Errorf("supervisor containers %v", ids)
	}
	if _, err := sup.GetTask(ctx, "orphan"); !errdefs.IsNotFound(err) {
		t.Errorf("orphan task: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "containers"))
	if len(ents) != 1 || ents[0].Name() != keep.ID {
		t.Errorf("engine dirs %v", ents)
	}
	if err := d.Remove(ctx, "keep", true); err != nil {
		t.Fatal(err)
	}
}
