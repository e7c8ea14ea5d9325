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
)

// A removed container's directory leaves the engine's root when the
// remove answers and its files go soon after; one left behind by a stop
// in between is deleted at the next start, never loaded as a container.
func TestRemovedContainerDirectory(t *testing.T) {
	dataRoot := t.TempDir()
	root := filepath.Join(dataRoot, "containers")
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, dataRoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string) string {
		c, err := d.Create(ctx, containers.CreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	id := create("first")
	if err := d.Remove(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Fatalf("the removed container's directory is still in the root: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(root, ".removed"))
		if os.IsNotExist(err) {
			break // the files, and the holding directory once empty
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed container's files are still there: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Removed, then the engine stops before the files go: the next start
	// deletes them, and does not take them for a container.
	id = create("second")
	d.Close()
	if err := os.Mkdir(filepath.Join(root, ".removed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, id), filepath.Join(root, ".removed", id)); err != nil {
		t.Fatal(err)
	}
	d, err = containers.New(ctx, sup, dataRoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if l := d.List(true, 0); len(l) != 0 {
		t.Fatalf("containers after the restart: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(root, ".removed")); !os.IsNotExist(err) {
		t.Fatalf("the removed containers' directories after the restart: %v", err)
	}
}
