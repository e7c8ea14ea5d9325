package containers_test

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// A start cut short by a crash leaves a task, created or running, under a
// container recorded created: the engine deletes it when it starts again,
// the record stays created, and a start makes a new task.
func TestRestoreDropsStaleTasks(t *testing.T) {
	dir := t.TempDir()
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"created", "started"} {
		c, err := d.Create(ctx, containers.CreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	d.Close()
	for i, id := range ids {
		if err := sup.CreateTask(ctx, id, containers.TaskLog{}, false, false); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := sup.StartTask(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}

	d, err = containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, id := range ids {
		if _, err := sup.GetTask(ctx, id); !errdefs.IsNotFound(err) {
			t.Errorf("task of %s after the engine's restart: %v", id, err)
		}
		c, err := d.Inspect(ctx, id)
		if err != nil || c.State.Running || c.State.Status != container.StateCreated {
			t.Errorf("%s after the restart: %+v %v", id, c.State, err)
		}
		if err := d.Start(ctx, id); err != nil {
			t.Errorf("start %s: %v", id, err)
		}
	}
}
