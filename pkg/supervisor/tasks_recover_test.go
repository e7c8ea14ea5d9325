package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// fakeShims stands for pkg/shim/client: live shims by socket, and what
// `shim delete` would report for a dead one.
type fakeShims struct {
	mu         sync.Mutex
	live       map[string]*fakeShim
	recorded   map[string]record.Exit // by container id
	cleanupErr error
	cleaned    []string
}

func (f *fakeShims) Start(ctx context.Context, o client.StartOpts) (taskShim, error) {
	return nil, errors.New("fake: Start is not part of recovery")
}

func (f *fakeShims) Connect(ctx context.Context, socket string) (taskShim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.live[socket]; ok {
		return s, nil
	}
	return nil, errdefs.ErrUnavailable
}

func (f *fakeShims) Cleanup(ctx context.Context, o client.StartOpts) (record.Exit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleaned = append(f.cleaned, o.ID)
	if f.cleanupErr != nil {
		return record.Exit{}, f.cleanupErr
	}
	if e, ok := f.recorded[o.ID]; ok {
		return e, nil
	}
	return record.UnknownExit(), nil
}

// fakeShim is a live shim. Recovery and the monitor use State, Wait,
// ListExecs, Shutdown and Close; anything else would panic (nil
// interface), which the tests below would show.
type fakeShim struct {
	taskShim
	mu       sync.Mutex
	state    *shimv1.StateResponse
	exited   chan struct{} // closed: Wait returns state's exit
	shutdown bool
}

func (s *fakeShim) State(ctx context.Context) (*shimv1.StateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.state).(*shimv1.StateResponse), nil
}

func (s *fakeShim) Wait(ctx context.Context) (*shimv1.WaitResponse, error) {
	select {
	case <-s.exited:
		st, _ := s.State(ctx)
		return &shimv1.WaitResponse{ExitStatus: st.ExitStatus, ExitedAt: st.ExitedAt}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *fakeShim) ListExecs(ctx context.Context) ([]*shimv1.StateResponse, error) { return nil, nil }
func (s *fakeShim) Close() error                                                   { return nil }
func (s *fakeShim) Exited() <-chan struct{}                                        { return nil }
func (s *fakeShim) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	return nil
}

// putTask leaves on disk what Tasks.Create leaves for a task (its bundle
// and berth-task.json; with info false, a bundle interrupted before that).
func putTask(t *testing.T, cfg Config, ns, id string, info bool) taskInfo {
	t.Helper()
	ti := taskInfo{
		Namespace: ns, ID: id, Runtime: Runtime{Name: "fake", Path: "/bin/false"},
		RuntimeRoot: filepath.Join(cfg.State, "runtime", "fake"),
		Socket:      filepath.Join(cfg.State, "s", id+".sock"),
		ShimState:   filepath.Join(cfg.State, "shim", ns, id),
	}
	bundle := filepath.Join(cfg.State, "tasks", ns, id)
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ti.ShimState, 0o700); err != nil {
		t.Fatal(err)
	}
	if info {
		b, _ := json.Marshal(ti)
		if err := os.WriteFile(filepath.Join(bundle, taskFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ti
}

func running(pid uint32) *fakeShim {
	return &fakeShim{state: &shimv1.StateResponse{Pid: pid, Status: shimv1.Status_STATUS_RUNNING}, exited: make(chan struct{})}
}

func getTask(t *testing.T, s *Server, id string) (*pb.Task, error) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "ns")
	r, err := (&tasksService{s: s}).Get(ctx, &pb.GetTaskRequest{ContainerId: id})
	if err != nil {
		return nil, err
	}
	return r.Task, nil
}

// Recovery from the shims alone, one task in each state a supervisord
// can find after being killed: the shim alive (running; its container
// exited meanwhile), the shim dead (with and without an exit recorded),
// and Create interrupted at each step (no task file; a task file but no
// shim; a shim that never created its container).
func TestRecoverFromShims(t *testing.T) {
	cfg := testConfig(t)
	alive, exitedMeanwhile, neverCreated := running(101), running(102), &fakeShim{
		state: &shimv1.StateResponse{Status: shimv1.Status_STATUS_UNKNOWN}, exited: make(chan struct{})}
	exitedMeanwhile.state.Status, exitedMeanwhile.state.ExitStatus = shimv1.Status_STATUS_STOPPED, 3
	close(exitedMeanwhile.exited)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := &fakeShims{live: map[string]*fakeShim{}, recorded: map[string]record.Exit{
		"dead-exited": {Pid: 7, ExitStatus: 42, ExitedAt: at},
	}}
	fake.live[putTask(t, cfg, "ns", "alive", true).Socket] = alive
	fake.live[putTask(t, cfg, "ns", "exited-meanwhile", true).Socket] = exitedMeanwhile
	fake.live[putTask(t, cfg, "ns", "never-created", true).Socket] = neverCreated
	putTask(t, cfg, "ns", "dead-exited", true)
	putTask(t, cfg, "ns", "dead-running", true) // shim killed: nobody saw the exit
	putTask(t, cfg, "ns", "no-shim", true)      // crash after the task file, before the shim
	putTask(t, cfg, "ns", "no-info", false)     // crash before the task file
	cfg.shims = fake

	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if g, err := getTask(t, s, "alive"); err != nil || g.Status != pb.TaskStatus_TASK_STATUS_RUNNING || g.Pid != 101 {
		t.Errorf("alive: %+v %v", g, err)
	}
	if g, err := getTask(t, s, "exited-meanwhile"); err != nil || g.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.ExitStatus != 3 {
		t.Errorf("exited meanwhile: %+v %v", g, err)
	}
	for id, want := range map[string]uint32{"dead-exited": 42, "dead-running": 255, "no-shim": 255} {
		g, err := getTask(t, s, id)
		if err != nil || g.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.ExitStatus != want {
			t.Errorf("%s: %+v %v, want stopped %d", id, g, err, want)
		}
		// Persisted: a later restart keeps the status.
		if _, err := os.Stat(filepath.Join(cfg.State, "stopped", "ns", id+".json")); err != nil {
			t.Errorf("%s: stopped record: %v", id, err)
		}
	}
	if g, _ := getTask(t, s, "dead-exited"); g != nil && (g.Pid != 7 || g.ExitedAt != at.UnixNano()) {
		t.Errorf("dead-exited keeps the recorded pid and time: %+v", g)
	}
	for _, id := range []string{"never-created", "no-info"} {
		if _, err := getTask(t, s, id); !errdefs.IsNotFound(err) {
			t.Errorf("%s: %v, want not found", id, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.State, "tasks", "ns", id)); !errors.Is(err, os.ErrNotExist) && os.Geteuid() == 0 {
			t.Errorf("%s: bundle left: %v", id, err)
		}
	}
	if !neverCreated.shutdown {
		t.Error("the shim that never created its container was not shut down")
	}
	fake.mu.Lock()
	cleaned := map[string]bool{}
	for _, id := range fake.cleaned {
		cleaned[id] = true
	}
	fake.mu.Unlock()
	for _, id := range []string{"dead-exited", "dead-running", "no-shim"} {
		if !cleaned[id] {
			t.Errorf("%s: no shim delete", id)
		}
	}
	if cleaned["alive"] || cleaned["exited-meanwhile"] {
		t.Errorf("shim delete ran for a live shim: %v", fake.cleaned)
	}

	// The monitor goes on: the alive task's exit is seen through its shim.
	alive.mu.Lock()
	alive.state.Status, alive.state.ExitStatus = shimv1.Status_STATUS_STOPPED, 9
	alive.mu.Unlock()
	close(alive.exited)
	task, err := s.tasks.get(namespaces.WithNamespace(context.Background(), "ns"), "alive")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-task.monitorDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the monitor did not see the exit")
	}
	if g, err := getTask(t, s, "alive"); err != nil || g.ExitStatus != 9 {
		t.Errorf("alive after exit: %+v %v", g, err)
	}
}

// A shim delete that fails (the shim binary cannot run): the task is still
// listed, stopped with 255, and its files stay for the next start.
func TestRecoverCleanupFails(t *testing.T) {
	cfg := testConfig(t)
	ti := putTask(t, cfg, "ns", "stuck", true)
	cfg.shims = &fakeShims{cleanupErr: errors.New("fake: no shim binary")}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if g, err := getTask(t, s, "stuck"); err != nil || g.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.ExitStatus != 255 {
		t.Fatalf("stuck: %+v %v", g, err)
	}
	if _, err := os.Stat(ti.ShimState); err != nil {
		t.Fatalf("the dead shim's state went before it was cleaned up: %v", err)
	}
}

// A delete while the task is still being created is a "retry" (failed
// precondition), not "no task": the engine would otherwise go on to
// delete the container and find a task appear under it.
func TestDeleteWhileCreating(t *testing.T) {
	m := &taskManager{tasks: map[string]*task{}, creating: map[string]bool{"ns/abc": true}}
	ctx := namespaces.WithNamespace(context.Background(), "ns")
	if _, err := m.delete(ctx, "abc", true); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("delete while creating: %v, want failed precondition", err)
	}
	delete(m.creating, "ns/abc")
	if _, err := m.delete(ctx, "abc", true); !errdefs.IsNotFound(err) {
		t.Fatalf("delete of no task: %v, want not found", err)
	}
}
