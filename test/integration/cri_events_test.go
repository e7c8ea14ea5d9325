package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// GetContainerEvents streams a pod's and its containers' lifecycle in
// order, each event with the pod's status and its containers' statuses:
// the CRI calls' own (CREATED, STARTED, STOPPED, DELETED) and the exit of
// a container that ends by itself, once each.
func TestCRIContainerEvents(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.rt.GetContainerEvents(sctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // subscribed from here on
		t.Fatal(err)
	}
	events := make(chan *runtimeapi.ContainerEventResponse, 100)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	next := func(what string) *runtimeapi.ContainerEventResponse {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the event stream ended", what)
			}
			return ev
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no event", what)
		}
		return nil
	}
	expect := func(id string, typ runtimeapi.ContainerEventType) *runtimeapi.ContainerEventResponse {
		t.Helper()
		ev := next(fmt.Sprintf("%s of %.12s", typ, id))
		if ev.ContainerId != id || ev.ContainerEventType != typ {
			t.Fatalf("event %s of %.12s, want %s of %.12s", ev.ContainerEventType, ev.ContainerId, typ, id)
		}
		if ev.CreatedAt == 0 {
			t.Errorf("%s of %.12s has no time", typ, id)
		}
		return ev
	}
	ctrState := func(ev *runtimeapi.ContainerEventResponse, id string) runtimeapi.ContainerState {
		for _, c := range ev.ContainersStatuses {
			if c.Id == id {
				return c.State
			}
		}
		return -1
	}

	pc := podConfig("events")
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	pid := pod.PodSandboxId
	t.Cleanup(func() { e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pid}) })
	expect(pid, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	ev := expect(pid, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	if ev.PodSandboxStatus.GetId() != pid || ev.PodSandboxStatus.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || len(ev.ContainersStatuses) != 0 {
		t.Errorf("pod STARTED: pod status %v, containers %v", ev.PodSandboxStatus, ev.ContainersStatuses)
	}

	mk := func(name string, cmd ...string) string {
		t.Helper()
		c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pid, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: img}, Command: cmd,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return c.ContainerId
	}
	long := mk("long", "sleep", "1000")
	ev = expect(long, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	if ctrState(ev, long) != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("CREATED: statuses %v", ev.ContainersStatuses)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: long}); err != nil {
		t.Fatal(err)
	}
	ev = expect(long, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	if ctrState(ev, long) != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("STARTED: statuses %v", ev.ContainersStatuses)
	}

	// A container that exits by itself: its STOPPED comes from the exit.
	short := mk("short", "sh", "-c", "exit 3")
	expect(short, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: short}); err != nil {
		t.Fatal(err)
	}
	expect(short, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	ev = expect(short, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	for _, c := range ev.ContainersStatuses {
		if c.Id == short && (c.State != runtimeapi.ContainerState_CONTAINER_EXITED || c.ExitCode != 3) {
			t.Errorf("STOPPED of a container that exited 3: %v", c)
		}
	}

	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: long, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	ev = expect(long, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	if ctrState(ev, long) != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("STOPPED: statuses %v", ev.ContainersStatuses)
	}
	// Stopping again announces nothing; removing announces DELETED only.
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: long}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: long}); err != nil {
		t.Fatal(err)
	}
	ev = expect(long, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	if ctrState(ev, long) != -1 || ctrState(ev, short) != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("DELETED: statuses %v", ev.ContainersStatuses)
	}

	// The pod: stopping it stops the pause (the exited container is
	// stopped already); removing it removes the container, then the pod.
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pid}); err != nil {
		t.Fatal(err)
	}
	ev = expect(pid, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	if ev.PodSandboxStatus.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("pod STOPPED: %v", ev.PodSandboxStatus)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pid}); err != nil {
		t.Fatal(err)
	}
	expect(short, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	ev = expect(pid, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	if ev.PodSandboxStatus != nil || len(ev.ContainersStatuses) != 0 {
		t.Errorf("pod DELETED: %v %v", ev.PodSandboxStatus, ev.ContainersStatuses)
	}
	select {
	case ev := <-events:
		t.Errorf("one event too many: %s of %.12s", ev.ContainerEventType, ev.ContainerId)
	case <-time.After(500 * time.Millisecond):
	}
}

// UpdatePodSandboxResources records the pod-level limits the kubelet has
// applied to the pod's cgroup parent; a pod without one has no pod-level
// cgroup and is refused by field; unknown pods are NotFound.
func TestCRIUpdatePodSandboxResources(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	ctx := criCtx(t)
	parent := fmt.Sprintf("/berth-test-kubepods-%d/podres", os.Getpid())
	mem := filepath.Join("/sys/fs/cgroup/memory", parent)
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		mem = filepath.Join("/sys/fs/cgroup", parent)
	}
	t.Cleanup(func() { os.Remove(mem); os.Remove(filepath.Dir(mem)) })
	run := func(name, parent string) string {
		pc := podConfig(name)
		pc.Linux.CgroupParent = parent
		pc.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}
		pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		})
		return pod.PodSandboxId
	}
	withParent, without := run("res-parent", parent), run("res-none", "")

	res := &runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 128 << 20}
	over := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 8 << 20}
	if _, err := e.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: withParent, Resources: res, Overhead: over}); err != nil {
		t.Fatal(err)
	}
	st, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: withParent, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Config struct {
			Linux struct {
				Resources, Overhead struct {
					CPUShares   int64 `json:"cpu_shares"`
					MemoryLimit int64 `json:"memory_limit_in_bytes"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		t.Fatal(err)
	}
	if r := info.Config.Linux.Resources; r.CPUShares != 512 || r.MemoryLimit != 128<<20 || info.Config.Linux.Overhead.MemoryLimit != 8<<20 {
		t.Errorf("pod config after the update: %s", st.Info["info"])
	}

	_, err = e.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: without, Resources: res})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "cgroup_parent") || !strings.HasPrefix(status.Convert(err).Message(), "resources:") {
		t.Errorf("a pod without a cgroup parent: %v, want FailedPrecondition naming resources", err)
	}
	_, err = e.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: "nosuchpod", Resources: res})
	if status.Code(err) != codes.NotFound {
		t.Errorf("an unknown pod: %v, want NotFound", err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		_, err = e.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: withParent,
			Overhead: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.max": "1"}}})
		if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "overhead.unified") {
			t.Errorf("unified resources on cgroup v1: %v, want Unimplemented naming overhead.unified", err)
		}
	}
}
