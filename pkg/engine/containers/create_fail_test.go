package containers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
)

// A create whose supervisor call failed after the supervisor made the
// container (its answer lost) leaves nothing: the engine deletes the
// supervisor's container and snapshot, and keeps no record, dir or name.
func TestFailedCreateLeavesNothing(t *testing.T) {
	d, sup, root := logDaemon(t)
	sup.NewContainerErr = errors.New("supervisor gone")
	if _, err := d.Create(context.Background(), containers.CreateOptions{Name: "web", Config: &container.Config{Image: "busybox"}}); err == nil {
		t.Fatal("create succeeded")
	}
	left := func() int { c, s := sup.Counts(); return c + s }
	for i := 0; i < 200 && left() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := left(); n > 0 {
		t.Errorf("%d supervisor containers and snapshots left", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "containers")); len(ents) > 0 {
		t.Errorf("container dirs left: %v", ents)
	}
	sup.NewContainerErr = nil
	if _, err := d.Create(context.Background(), containers.CreateOptions{Name: "web", Config: &container.Config{Image: "busybox"}}); err != nil {
		t.Fatalf("the name is still taken: %v", err)
	}
}
