package containers_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/engine/volume"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func aheadDaemon(t *testing.T, linger time.Duration) (*containers.Daemon, *containerstest.Supervisor) {
	t.Helper()
	sup := containerstest.New()
	root := t.TempDir()
	vols, err := volume.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	d, err := containers.New(context.Background(), sup, root, nil, containers.WithTasksAhead(linger), containers.WithVolumes(vols))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, sup
}

// waitFor fails unless cond holds within a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func createEcho(t *testing.T, d *containers.Daemon, name string, hc *container.HostConfig) *containers.Container {
	t.Helper()
	c, err := d.Create(context.Background(), containers.CreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: []string{"echo", "hello"}}, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A created container's task is made in the background while it stays
// created for every client; its start only starts that task, with the
// attach made before the process runs (the output is all there).
func TestTaskMadeAheadIsStarted(t *testing.T) {
	d, sup := aheadDaemon(t, time.Minute)
	ctx := context.Background()
	c := createEcho(t, d, "web", nil)
	waitFor(t, "the task made ahead", func() bool { _, ok := sup.TaskStatus(c.ID); return ok })
	if st, _ := sup.TaskStatus(c.ID); st != supervisorv1.TaskStatus_TASK_STATUS_CREATED {
		t.Fatalf("task made ahead is %v", st)
	}
	in, err := d.Inspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in.State.Status != container.StateCreated || in.State.Pid != 0 || in.State.Running {
		t.Fatalf("a container with its task made ahead shows %+v", in.State)
	}
	attach, err := d.PrepareAttach(ctx, c.ID, containers.AttachOptions{Stdout: true, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	attached := make(chan error, 1)
	go func() { attached <- attach(&out, &out) }()
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" {
		t.Fatalf("attached output %q", out.String())
	}
	if n := sup.CreateTasks(); n != 1 {
		t.Fatalf("%d task creates for one start", n)
	}
	if d.TaskAhead(c.ID) {
		t.Fatal("the start left its task made ahead in place")
	}
}

// A start that comes while the task is still being made waits for that
// create instead of making another.
func TestStartDuringTheCreateAhead(t *testing.T) {
	d, sup := aheadDaemon(t, time.Minute)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	sup.SetOnCreateTask(func() { close(entered); <-release })
	c := createEcho(t, d, "web", nil)
	<-entered
	started := make(chan error, 1)
	go func() { started <- d.Start(ctx, c.ID) }()
	select {
	case err := <-started:
		t.Fatalf("the start ended (%v) before the create ahead", err)
	case <-time.After(50 * time.Millisecond):
	}
	sup.SetOnCreateTask(nil)
	close(release)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(ctx, c.ID, "not-running"); err != nil {
		t.Fatal(err)
	}
	if n := sup.CreateTasks(); n != 1 {
		t.Fatalf("%d task creates for one start", n)
	}
}

// A task made ahead that no start takes is deleted after the linger; the
// container stays created and starts as any other.
func TestTaskAheadLingersThenGoes(t *testing.T) {
	d, sup := aheadDaemon(t, 50*time.Millisecond)
	ctx := context.Background()
	c := createEcho(t, d, "web", nil)
	waitFor(t, "the task made ahead", func() bool { return sup.CreateTasks() == 1 })
	waitFor(t, "the task's deletion", func() bool { _, ok := sup.TaskStatus(c.ID); return !ok && !d.TaskAhead(c.ID) })
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n := sup.CreateTasks(); n != 2 {
		t.Fatalf("%d task creates, want the one ahead and the start's", n)
	}
}

// What reads or changes what the task was made from drops it first: the
// container is then as if nothing had been made, and a removal leaves no
// task behind.
func TestTaskAheadDroppedFirst(t *testing.T) {
	ctx := context.Background()
	for name, op := range map[string]func(*containers.Daemon, string) error{
		"remove": func(d *containers.Daemon, id string) error { return d.Remove(ctx, id, false) },
		"update": func(d *containers.Daemon, id string) error {
			_, err := d.Update(ctx, id, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}})
			return err
		},
		"cp into": func(d *containers.Daemon, id string) error {
			return d.ExtractToDir(ctx, id, "/", containers.ExtractOptions{}, strings.NewReader(""))
		},
		"cp from": func(d *containers.Daemon, id string) error {
			_, _ = d.StatPath(ctx, id, "/") // the fake has no files
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			d, sup := aheadDaemon(t, time.Minute)
			c := createEcho(t, d, "web", nil)
			waitFor(t, "the task made ahead", func() bool { _, ok := sup.TaskStatus(c.ID); return ok })
			if err := op(d, c.ID); err != nil {
				t.Fatal(err)
			}
			if _, ok := sup.TaskStatus(c.ID); ok || d.TaskAhead(c.ID) {
				t.Fatalf("after %s: task there %v, made ahead %v", name, ok, d.TaskAhead(c.ID))
			}
		})
	}
}

// Containers whose start depends on something else's state at the start
// get no task ahead; the others (tmpfs, a network of their own) do.
func TestTaskAheadOnlyWhereTheStartChangesNothing(t *testing.T) {
	d, _ := aheadDaemon(t, time.Minute)
	ctx := context.Background()
	peer, err := d.Create(ctx, containers.CreateOptions{Name: "peer", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, peer.ID); err != nil {
		t.Fatal(err)
	}
	for name, hc := range map[string]*container.HostConfig{
		"bind":      {Mounts: []mount.Mount{{Type: mount.TypeBind, Source: t.TempDir(), Target: "/data"}}},
		"volume":    {Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/data"}}},
		"ports":     {PortBindings: network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "8080"}}}},
		"publish":   {PublishAllPorts: true},
		"joins pid": {PidMode: container.PidMode("container:peer")},
	} {
		c, err := d.Create(ctx, containers.CreateOptions{Name: strings.ReplaceAll(name, " ", "-"), Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: hc})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.TaskAhead(c.ID) {
			t.Errorf("%s: task made ahead", name)
		}
	}
	c := createEcho(t, d, "tmpfs", &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/scratch"}}})
	if !d.TaskAhead(c.ID) {
		t.Error("tmpfs: no task made ahead")
	}
}

// A create ahead that failed is made again by the start, whose own
// failure is reported as a start without it reports it.
func TestFailedCreateAhead(t *testing.T) {
	d, sup := aheadDaemon(t, time.Minute)
	ctx := context.Background()
	sup.SetCreateTaskErr(errors.New("no such file: /bin/echo"))
	c := createEcho(t, d, "web", nil)
	waitFor(t, "the create ahead", func() bool { return sup.CreateTasks() == 1 })
	err := d.Start(ctx, c.ID)
	if err == nil || !strings.Contains(err.Error(), "create task: no such file: /bin/echo") {
		t.Fatalf("start: %v", err)
	}
	if n := sup.CreateTasks(); n != 2 {
		t.Fatalf("%d task creates, want the one ahead and the start's", n)
	}
	sup.SetCreateTaskErr(nil)
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
}
