package containers_test

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// A rename survives an engine restart; the old name is free, the new one
// taken, and a prune leaves a running container alone.
func TestRenamePersistsAndPrune(t *testing.T) {
	dir := t.TempDir()
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Create(ctx, containers.CreateOptions{Name: "before", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(ctx, "before", "after"); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d, err = containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got, err := d.Get("after"); err != nil || got.ID != c.ID {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := d.Get("before"); !errdefs.IsNotFound(err) {
		t.Errorf("old name still resolves: %v", err)
	}
	if _, err := d.Create(ctx, containers.CreateOptions{Name: "after", Config: &container.Config{Image: "busybox"}}); !errdefs.IsConflict(err) {
		t.Errorf("new name not taken: %v", err)
	}
	if err := d.Start(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Prune(ctx, func(containers.Container) bool { return true }, nil)
	if err != nil || len(rep.Deleted) != 0 {
		t.Errorf("prune took a running container: %v %+v", err, rep)
	}
	if err := d.Remove(ctx, "after", true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, containers.CreateOptions{Name: "after", Config: &container.Config{Image: "busybox"}}); err != nil {
		t.Errorf("name not freed by the removal: %v", err)
	}
}
