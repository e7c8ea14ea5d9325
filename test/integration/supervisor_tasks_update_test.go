package integration

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Tasks.Update reaches the task's cgroup through the shim; Containers.Update
// stores a new spec; both keep their error classes over gRPC.
func TestSupervisorTaskUpdate(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "upd1", "sleep", "100")

	got, err := e.ctrs.Get(ctx, &pb.GetContainerRequest{Id: "upd1"})
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(got.Container.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	limit := int64(30)
	spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	b, _ := json.Marshal(&spec)
	if _, err := e.ctrs.Update(ctx, &pb.UpdateContainerRequest{Container: &pb.Container{Id: "upd1", Spec: b}, UpdateFields: []string{"spec"}}); err != nil {
		t.Fatalf("update container: %v", err)
	}
	for _, bad := range []struct {
		req  *pb.UpdateContainerRequest
		code codes.Code
	}{
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "nosuch", Spec: b}, UpdateFields: []string{"spec"}}, codes.NotFound},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "upd1", Image: "x"}, UpdateFields: []string{"image"}}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "upd1", Spec: []byte("{")}, UpdateFields: []string{"spec"}}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "upd1", Spec: b}}, codes.InvalidArgument},
	} {
		if _, err := e.ctrs.Update(ctx, bad.req); status.Code(err) != bad.code {
			t.Errorf("update %v: %v, want %v", bad.req, err, bad.code)
		}
	}

	// The task is created from the stored spec, with its new pids limit.
	c, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "upd1", LogPath: e.dir + "/upd1.log"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "upd1"}); err != nil {
		t.Fatal(err)
	}
	pid := c.Task.Pid
	if v := cgroupValue(t, pid, "pids.max"); v != "30" {
		t.Errorf("pids.max from the updated spec: %s", v)
	}
	if _, err := e.tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "upd1", Resources: []byte(`{"pids":{"limit":20},"memory":{"limit":33554432}}`)}); err != nil {
		t.Fatalf("update task: %v", err)
	}
	if v := cgroupValue(t, pid, "pids.max"); v != "20" {
		t.Errorf("pids.max after Tasks.Update: %s", v)
	}
	mem := "memory.limit_in_bytes"
	if v := cgroupValue(t, pid, mem); v != "33554432" {
		t.Errorf("%s after Tasks.Update: %s", mem, v)
	}
	if _, err := e.tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "nosuch", Resources: []byte(`{}`)}); status.Code(err) != codes.NotFound {
		t.Errorf("update of no task: %v", err)
	}
	if _, err := e.tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "upd1", Resources: []byte(`[]`)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("update with an array: %v", err)
	}
	_, err = e.tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "upd1", Resources: []byte(`{"cpu":{"cpus":"4095"}}`)})
	if err == nil || !strings.Contains(err.Error(), "update") {
		t.Errorf("update to a cpu that does not exist: %v", err)
	}
	if _, err := e.tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: "upd1", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "upd1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "upd1", Resources: []byte(`{"pids":{"limit":5}}`)}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("update of an exited task: %v", err)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "upd1"}); err != nil {
		t.Fatal(err)
	}
}
