package containers_test

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
)

func TestParseRestartPolicy(t *testing.T) {
	for in, want := range map[string]container.RestartPolicy{
		"":             {Name: container.RestartPolicyDisabled},
		"no":           {Name: container.RestartPolicyDisabled},
		"always":       {Name: container.RestartPolicyAlways},
		"on-failure:3": {Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3},
	} {
		got, err := containers.ParseRestartPolicy(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"always:2", "on-failure:-1", "on-failure:x", "sometimes"} {
		if _, err := containers.ParseRestartPolicy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A new engine applies the policies: always starts again even after a
// user's stop, unless-stopped only if no user stopped it, a pending
// restart is resumed, no is left alone.
func TestRestartPoliciesAtEngineStart(t *testing.T) {
	dir := t.TempDir()
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(policy container.RestartPolicyMode) string {
		c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}},
			HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: policy}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	always, unless, unlessRunning, no := mk(container.RestartPolicyAlways), mk(container.RestartPolicyUnlessStopped), mk(container.RestartPolicyUnlessStopped), mk(container.RestartPolicyDisabled)
	zero := 0
	for _, id := range []string{always, unless, no} {
		if err := d.Stop(ctx, id, containers.StopOptions{Timeout: &zero}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	// While the engine is away, the unless-stopped container that ran dies.
	if err := sup.KillTask(ctx, unlessRunning, 9); err != nil {
		t.Fatal(err)
	}

	d, err = containers.New(ctx, sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	state := func(id string) containers.Container {
		c, err := d.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	deadline := time.Now().Add(5 * time.Second)
	for !state(always).State.Running || !state(unlessRunning).State.Running {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: always %+v, unless-stopped that died %+v", state(always).State, state(unlessRunning).State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := state(unlessRunning); c.RestartCount != 1 {
		t.Errorf("restart count %d", c.RestartCount)
	}
	time.Sleep(200 * time.Millisecond)
	if state(unless).State.Running || state(no).State.Running {
		t.Error("a stopped unless-stopped or no-policy container was started")
	}
}
