package containers_test

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// The supervisor's part of a --rm removal comes AutoRemoveDelay after the
// engine's, which answers the wait for "removed"; AwaitAutoRemovals waits
// for it (a collection after run --rm then finds the snapshot gone).
func TestAutoRemoveSupervisorPartLater(t *testing.T) {
	sup := containerstest.New()
	const delay = 300 * time.Millisecond
	d, err := containers.New(context.Background(), sup, t.TempDir(), nil, containers.WithAutoRemoveDelay(delay))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	c := createEcho(t, d, "rm", &container.HostConfig{AutoRemove: true})
	runRemoved(t, d, c)
	answered := time.Now()
	if _, err := d.Get(c.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("removed container still there: %v", err)
	}
	if !sup.HasContainer(c.ID) {
		t.Fatal("the supervisor's part went before the delay")
	}
	if err := d.AwaitAutoRemovals(ctx); err != nil {
		t.Fatal(err)
	}
	if sup.HasContainer(c.ID) {
		t.Fatal("AwaitAutoRemovals returned before the supervisor's part was done")
	}
	if since := time.Since(answered); since > delay+5*time.Second {
		t.Fatalf("the supervisor's part took %v", since)
	}

	// With nothing under way it returns at once.
	if err := d.AwaitAutoRemovals(ctx); err != nil {
		t.Fatal(err)
	}
}

// Close does not wait out the delay: the removal runs at once.
func TestAutoRemoveAtClose(t *testing.T) {
	sup := containerstest.New()
	d, err := containers.New(context.Background(), sup, t.TempDir(), nil, containers.WithAutoRemoveDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := createEcho(t, d, "rm", &container.HostConfig{AutoRemove: true})
	runRemoved(t, d, c)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := d.AwaitAutoRemovals(short); err == nil {
		t.Fatal("an hour's delay was not waited for")
	}
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the delay")
	}
	if sup.HasContainer(c.ID) {
		t.Fatal("the supervisor's part was not done at Close")
	}
}

// runRemoved starts c, a --rm container, and waits for its removal as
// run --rm does: the wait is registered before the start (as the API's
// is before its response headers), else a quick container can be gone
// before the wait looks it up.
func runRemoved(t *testing.T, d *containers.Daemon, c *containers.Container) {
	t.Helper()
	ctx := context.Background()
	wait, err := d.PrepareWait(c.ID, "removed")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(ctx); err != nil {
		t.Fatal(err)
	}
}
