package containers_test

import (
	"context"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// stop -s / restart -s: the signal given replaces the container's stop
// signal for that stop only; a bad one is refused before anything is sent.
func TestStopSignalGiven(t *testing.T) {
	ctx := context.Background()
	sup := containerstest.New()
	d, err := containers.New(ctx, sup, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}, StopSignal: "SIGINT"},
		HostConfig: &container.HostConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	zero := 0
	err = d.Stop(ctx, c.ID, containers.StopOptions{Signal: "SIGNOPE", Timeout: &zero})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad signal: %v, want invalid argument", err)
	}
	if got, _ := d.Inspect(ctx, c.ID); !got.State.Running || len(sup.Signals(c.ID)) != 0 {
		t.Fatalf("a stop with a bad signal did something: running %v, signals %v", got.State.Running, sup.Signals(c.ID))
	}
	if err := d.Stop(ctx, c.ID, containers.StopOptions{Signal: "USR1", Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(ctx, c.ID, containers.StopOptions{Signal: "12", Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, c.ID, containers.StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	// Each stop: its signal, then SIGKILL once the (zero) timeout is over.
	if got, want := sup.Signals(c.ID), []uint32{10, 9, 12, 9, 2, 9}; !slices.Equal(got, want) {
		t.Fatalf("signals sent %v, want %v (USR1, USR2, then the container's SIGINT, each followed by KILL)", got, want)
	}
}
