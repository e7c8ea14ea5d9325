package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/supervisor/events"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// tasksService serves tasks: one shim per task.
type tasksService struct {
	pb.UnimplementedTasksServer
	s *Server
}

func (t *task) state(ctx context.Context) (*pb.Task, error) {
	if e := t.exitRecord(); e != nil {
		return &pb.Task{
			ContainerId: t.ID, Pid: e.Pid, Status: pb.TaskStatus_TASK_STATUS_STOPPED,
			ExitStatus: e.ExitStatus, ExitedAt: e.ExitedAt.UnixNano(), OomKilled: e.OOMKilled,
			Runtime: t.Runtime.Name,
		}, nil
	}
	st, err := t.shim.State(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Task{
		ContainerId: t.ID, Pid: st.Pid, Status: pb.TaskStatus(st.Status),
		ExitStatus: st.ExitStatus, ExitedAt: st.ExitedAt, OomKilled: st.OomKilled,
		StartedAt: st.StartedAt, Runtime: t.Runtime.Name,
	}, nil
}

// live returns the task when its shim is there to ask.
func (ts *tasksService) live(ctx context.Context, id string) (*task, error) {
	t, err := ts.s.tasks.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.exitRecord() != nil {
		return nil, errExited(t.ID)
	}
	return t, nil
}

func (ts *tasksService) Create(ctx context.Context, req *pb.CreateTaskRequest) (*pb.CreateTaskResponse, error) {
	cgroupprime.Start() // the runtime places init some 5 ms from now
	t, err := ts.s.tasks.create(ctx, req)
	if err != nil {
		return nil, err
	}
	// From the shim's answers, without a State round trip on the start path.
	st := &pb.Task{ContainerId: t.ID, Pid: t.createdPid, Status: pb.TaskStatus_TASK_STATUS_CREATED, Runtime: t.Runtime.Name}
	ts.s.tasks.publish(t, events.TaskCreate, &pb.Envelope{Pid: st.Pid})
	return &pb.CreateTaskResponse{Task: st}, nil
}

func (ts *tasksService) Start(ctx context.Context, req *pb.StartTaskRequest) (*pb.StartTaskResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if req.ExecId != "" {
		return ts.startExec(ctx, t, req.ExecId)
	}
	sr, err := t.shim.Start(ctx)
	if err != nil {
		return nil, err
	}
	// The task may have exited already: Get and Wait tell, as after any
	// start; the answer is the start's.
	st := &pb.Task{ContainerId: t.ID, Pid: sr.GetPid(), Status: pb.TaskStatus_TASK_STATUS_RUNNING,
		StartedAt: time.Now().UnixNano(), Runtime: t.Runtime.Name}
	ts.s.tasks.publish(t, events.TaskStart, &pb.Envelope{Pid: st.Pid})
	return &pb.StartTaskResponse{Task: st}, nil
}

func (ts *tasksService) Get(ctx context.Context, req *pb.GetTaskRequest) (*pb.GetTaskResponse, error) {
	t, err := ts.s.tasks.get(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	st, err := t.state(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.GetTaskResponse{Task: st}, nil
}

func (ts *tasksService) List(ctx context.Context, req *pb.ListTasksRequest) (*pb.ListTasksResponse, error) {
	ns, err := namespaceOf(ctx)
	if err != nil {
		return nil, err
	}
	m := ts.s.tasks
	m.mu.Lock()
	var tasks []*task
	for _, t := range m.tasks {
		if t.Namespace == ns {
			tasks = append(tasks, t)
		}
	}
	m.mu.Unlock()
	resp := &pb.ListTasksResponse{}
	for _, t := range tasks {
		st, err := t.state(ctx)
		if err != nil {
			// The shim does not answer: list the task, state unknown.
			st = &pb.Task{ContainerId: t.ID, Status: pb.TaskStatus_TASK_STATUS_UNKNOWN, Runtime: t.Runtime.Name}
		}
		resp.Tasks = append(resp.Tasks, st)
	}
	sort.Slice(resp.Tasks, func(i, j int) bool { return resp.Tasks[i].ContainerId < resp.Tasks[j].ContainerId })
	return resp, nil
}

func (ts *tasksService) Kill(ctx context.Context, req *pb.KillTaskRequest) (*pb.KillTaskResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	sig := req.Signal
	if sig == 0 {
		sig = 15 // SIGTERM
	}
	if req.ExecId != "" {
		return &pb.KillTaskResponse{}, t.shim.KillExec(ctx, req.ExecId, sig)
	}
	return &pb.KillTaskResponse{}, t.shim.Kill(ctx, sig, req.All)
}

func (ts *tasksService) Wait(ctx context.Context, req *pb.WaitTaskRequest) (*pb.WaitTaskResponse, error) {
	t, err := ts.s.tasks.get(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if e := t.exitRecord(); e != nil {
		if req.ExecId != "" {
			return nil, fmt.Errorf("exec %s: %w", req.ExecId, errdefs.ErrNotFound)
		}
		return &pb.WaitTaskResponse{ExitStatus: e.ExitStatus, ExitedAt: e.ExitedAt.UnixNano(), OomKilled: e.OOMKilled}, nil
	}
	var r *shimv1.WaitResponse
	if req.ExecId != "" {
		r, err = t.shim.WaitExec(ctx, req.ExecId)
	} else {
		r, err = t.shim.Wait(ctx)
	}
	if err != nil {
		if req.ExecId == "" && t.monitorDone != nil && errdefs.IsUnavailable(err) {
			// The shim may have died: its monitor finds out and records it.
			select {
			case <-t.monitorDone:
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
		}
		if e := t.exitRecord(); e != nil && req.ExecId == "" {
			// The shim died while we waited: its task was taken down.
			return &pb.WaitTaskResponse{ExitStatus: e.ExitStatus, ExitedAt: e.ExitedAt.UnixNano()}, nil
		}
		return nil, err
	}
	return &pb.WaitTaskResponse{ExitStatus: r.ExitStatus, ExitedAt: r.ExitedAt, OomKilled: r.OomKilled}, nil
}

func (ts *tasksService) Delete(ctx context.Context, req *pb.DeleteTaskRequest) (*pb.DeleteTaskResponse, error) {
	if req.ExecId != "" {
		t, err := ts.live(ctx, req.ContainerId)
		if err != nil {
			return nil, err
		}
		r, err := t.shim.DeleteExec(ctx, req.ExecId, req.Force)
		if err != nil {
			return nil, err
		}
		return &pb.DeleteTaskResponse{ExitStatus: r.ExitStatus, ExitedAt: r.ExitedAt}, nil
	}
	r, err := ts.s.tasks.delete(ctx, req.ContainerId, req.Force)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteTaskResponse{ExitStatus: r.ExitStatus, ExitedAt: r.ExitedAt}, nil
}

func (ts *tasksService) Attach(req *pb.AttachTaskRequest, stream pb.Tasks_AttachServer) error {
	get := ts.s.tasks.get
	if req.AwaitCreate {
		get = ts.s.tasks.awaitCreated
	}
	t, err := get(stream.Context(), req.ContainerId)
	if err != nil {
		return err
	}
	if t.exitRecord() != nil {
		return stream.SendHeader(nil) // nothing more will come
	}
	a, err := t.shim.AttachExec(stream.Context(), req.ExecId, req.Stdout, req.Stderr)
	if err != nil {
		return err
	}
	// The header tells the client it is attached: no output is missed from here.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		c, err := a.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s := pb.AttachTaskResponse_STDOUT
		if c.Stream == shimv1.AttachChunk_STDERR {
			s = pb.AttachTaskResponse_STDERR
		}
		if err := stream.Send(&pb.AttachTaskResponse{Stream: s, Data: c.Data}); err != nil {
			return err
		}
	}
}
