package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// svContainer imports busybox, prepares a snapshot and creates a container.
func (e *svEnv) svContainer(t *testing.T, ctx context.Context, id string, args ...string) {
	t.Helper()
	if _, err := e.ctrs.Create(ctx, e.svContainerRequest(t, ctx, id, args...)); err != nil {
		t.Fatal(err)
	}
}

// svContainerRequest prepares the rootfs of container id running args and
// returns the request that creates it.
func (e *svEnv) svContainerRequest(t *testing.T, ctx context.Context, id string, args ...string) *pb.CreateContainerRequest {
	t.Helper()
	img := e.importBusybox(t, ctx, "busybox:latest")
	if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: id + "-rootfs", Parent: img.ChainId}); err != nil {
		t.Fatal(err)
	}
	return &pb.CreateContainerRequest{Container: &pb.Container{
		Id: id, Image: img.Name, Spec: svSpec(t, e.cfg.Runtimes[0].Path, id, args...), SnapshotKey: id + "-rootfs",
	}}
}

func TestSupervisorTaskRun(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "echo1", "echo", "hi")
	logPath := filepath.Join(e.dir, "echo1.log")
	c, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "echo1", LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	if c.Task.Status != pb.TaskStatus_TASK_STATUS_CREATED || c.Task.Pid == 0 {
		t.Fatalf("created: %+v", c.Task)
	}
	if _, err := e.ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: "echo1"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete container with task: %v", err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "echo1"}); err != nil {
		t.Fatal(err)
	}
	w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "echo1"})
	if err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %+v", err, w)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), `"log":"hi\n"`) {
		t.Fatalf("log: %q", b)
	}
	d, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "echo1"})
	if err != nil || d.ExitStatus != 0 || d.ExitedAt == 0 {
		t.Fatalf("delete: %v %+v", err, d)
	}
	if m := svMountsUnder(e.cfg.State); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	if _, err := e.ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: "echo1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: "echo1-rootfs"}); status.Code(err) != codes.NotFound {
		t.Fatalf("container snapshot kept: %v", err)
	}
}

func TestSupervisorRestartKeepsTasks(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "sleeper", "sleep", "1000")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "sleeper"}); err != nil {
		t.Fatal(err)
	}
	s, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "sleeper"})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.Task.Pid

	e.stop(t)
	e.start(t)

	l, err := e.tasks.List(ctx, &pb.ListTasksRequest{})
	if err != nil || len(l.Tasks) != 1 || l.Tasks[0].Status != pb.TaskStatus_TASK_STATUS_RUNNING || l.Tasks[0].Pid != pid {
		t.Fatalf("after restart: %v %+v", err, l)
	}
	if _, err := e.tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: "sleeper", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "sleeper"})
	if err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait: %v %+v", err, w)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "sleeper"}); err != nil {
		t.Fatal(err)
	}
	if m := svMountsUnder(e.cfg.State); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
}

// A shim that died while supervisord was down is cleaned up on restart.
func TestSupervisorRecoversDeadShim(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "doomed", "sleep", "1000")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "doomed"}); err != nil {
		t.Fatal(err)
	}
	s, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	e.stop(t)
	// Kill the shim (the parent of the container) and the container.
	ppid := svParent(t, int(s.Task.Pid))
	syscall.Kill(ppid, syscall.SIGKILL)
	syscall.Kill(int(s.Task.Pid), syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(ppid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	e.start(t)
	// Listed as stopped (nobody saw the exit: 255) until deleted, with its
	// resources already cleaned up.
	l, err := e.tasks.List(ctx, &pb.ListTasksRequest{})
	if err != nil || len(l.Tasks) != 1 || l.Tasks[0].Status != pb.TaskStatus_TASK_STATUS_STOPPED || l.Tasks[0].ExitStatus != 255 {
		t.Fatalf("after restart: %v %+v", err, l)
	}
	if _, err := e.ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: "doomed"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete container with a stopped task: %v", err)
	}
	if d, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "doomed"}); err != nil || d.ExitStatus != 255 {
		t.Fatalf("delete: %v %+v", err, d)
	}
	if m := svMountsUnder(e.cfg.State); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	ents, _ := os.ReadDir(filepath.Join(e.cfg.State, "tasks", "test"))
	socks, _ := os.ReadDir(filepath.Join(e.cfg.State, "s"))
	if len(ents) != 0 || len(socks) != 0 {
		t.Fatalf("state left: %v %v", ents, socks)
	}
	// The container can run again.
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "doomed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "doomed", Force: true}); err != nil {
		t.Fatal(err)
	}
}

func svParent(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// startAttachedOutErr starts id, whose attach st is made, reads what it
// writes until it exits ("out" on stdout, "err" on stderr) and deletes it.
func (e *svEnv) startAttachedOutErr(t *testing.T, ctx context.Context, st pb.Tasks_AttachClient, id string) {
	t.Helper()
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	got := map[pb.AttachTaskResponse_Stream]string{}
	for {
		m, err := st.Recv()
		if err != nil {
			break
		}
		got[m.Stream] += string(m.Data)
	}
	if got[pb.AttachTaskResponse_STDOUT] != "out\n" || got[pb.AttachTaskResponse_STDERR] != "err\n" {
		t.Fatalf("attached output: %q", got)
	}
	if _, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
}

func TestSupervisorTaskAttach(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "talker", "sh", "-c", "sleep 1; echo out; echo err >&2")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "talker"}); err != nil {
		t.Fatal(err)
	}
	st, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: "talker", Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	e.startAttachedOutErr(t, ctx, st, "talker")
}

// An attach with await_create, made before the task's create (as engined
// makes it beside the create), attaches once the task exists: nothing the
// task writes from its start is lost. One whose creation fails ends with
// NotFound.
func TestSupervisorTaskAttachAwaitCreate(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "early", "sh", "-c", "echo out; echo err >&2")
	st, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: "early", Stdout: true, Stderr: true, AwaitCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	header := make(chan error, 1)
	go func() {
		_, err := st.Header()
		header <- err
	}()
	// No task yet: it waits (without await_create it is NotFound at once).
	select {
	case err := <-header:
		t.Fatalf("attached before the task was created: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "early"}); err != nil {
		t.Fatal(err)
	}
	if err := <-header; err != nil {
		t.Fatalf("attach after the create: %v", err)
	}
	e.startAttachedOutErr(t, ctx, st, "early")

	// A create that fails (a log format nobody knows) after the attach
	// waits for it.
	e.svContainer(t, ctx, "doomed-attach", "true")
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fst, err := e.tasks.Attach(actx, &pb.AttachTaskRequest{ContainerId: "doomed-attach", Stdout: true, AwaitCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := fst.Recv()
		ended <- err
	}()
	time.Sleep(time.Second) // the attach is waiting in supervisord by then
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "doomed-attach", LogPath: filepath.Join(e.dir, "d.log"), LogFormat: "bogus"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("create with a bogus log format: %v", err)
	}
	if err := <-ended; status.Code(err) != codes.NotFound {
		t.Fatalf("attach to a task whose creation failed: %v, want NotFound", err)
	}
}
