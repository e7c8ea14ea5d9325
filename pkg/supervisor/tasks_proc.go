package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/supervisor/events"
	"github.com/berthd/berth/pkg/sysinfo"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (ts *tasksService) Exec(ctx context.Context, req *pb.ExecProcessRequest) (*pb.ExecProcessResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if req.ExecId == "" {
		return nil, fmt.Errorf("exec id is required: %w", errdefs.ErrInvalidArgument)
	}
	if err := t.shim.Exec(ctx, &shimv1.ExecRequest{ExecId: req.ExecId, Spec: req.Spec, Stdin: req.Stdin, Terminal: req.Terminal}); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	ts.s.tasks.publish(t, events.TaskExecAdded, &pb.Envelope{ExecId: req.ExecId})
	return &pb.ExecProcessResponse{}, nil
}

func (ts *tasksService) startExec(ctx context.Context, t *task, execID string) (*pb.StartTaskResponse, error) {
	r, err := t.shim.StartExec(ctx, execID)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	ts.s.tasks.publish(t, events.TaskExecStarted, &pb.Envelope{ExecId: execID, Pid: r.Pid})
	ts.s.tasks.monitorExec(t, execID, r.Pid)
	st, err := t.state(ctx)
	if err != nil {
		return nil, err
	}
	// The task as it is, with the pid of the exec.
	st.Pid = r.Pid
	return &pb.StartTaskResponse{Task: st}, nil
}

// recoverExecs follows again the execs of a recovered task: their exits. An exec that exited while supervisord was
// down has its exit published now.
func (m *taskManager) recoverExecs(ctx context.Context, t *task) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	execs, err := t.shim.ListExecs(ctx)
	if err != nil {
		m.s.log.Warn("recover: list execs", "id", t.ID, "err", err)
		return
	}
	for _, e := range execs {
		if e.Status == shimv1.Status_STATUS_CREATED {
			continue // not started: Start will follow it
		}
		m.monitorExec(t, e.ExecId, e.Pid)
	}
}

// monitorExec publishes the exit of an exec.
func (m *taskManager) monitorExec(t *task, execID string, pid uint32) {
	go func() {
		for i := 0; i < 3; i++ {
			r, err := t.shim.WaitExec(m.stopCtx, execID)
			if err == nil {
				m.publish(t, events.TaskExit, &pb.Envelope{ExecId: execID, Pid: pid, ExitStatus: r.ExitStatus, ExitedAt: r.ExitedAt})
				return
			}
			if m.stopCtx.Err() != nil || errdefs.IsNotFound(err) || t.exitRecord() != nil {
				return
			}
			select {
			case <-m.stopCtx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

func (ts *tasksService) WriteStdin(stream pb.Tasks_WriteStdinServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return stream.SendAndClose(&pb.WriteStdinResponse{})
	}
	if err != nil {
		return err
	}
	t, err := ts.live(stream.Context(), first.ContainerId)
	if err != nil {
		return err
	}
	w, err := t.shim.StdinExec(stream.Context(), first.ExecId)
	if err != nil {
		return err
	}
	for m := first; ; m = nil {
		if m == nil {
			m, err = stream.Recv()
			if errors.Is(err, io.EOF) {
				if err := w.Close(); err != nil {
					return err
				}
				return stream.SendAndClose(&pb.WriteStdinResponse{})
			}
			if err != nil {
				w.Close()
				return err
			}
		}
		if len(m.Data) > 0 {
			if _, err := w.Write(m.Data); err != nil {
				return err
			}
		}
		if m.Close {
			if err := w.CloseStdin(); err != nil {
				return err
			}
			// Whatever follows has nowhere to go; drain the stream.
			for {
				if _, err := stream.Recv(); err != nil {
					return stream.SendAndClose(&pb.WriteStdinResponse{})
				}
			}
		}
	}
}

func (ts *tasksService) CloseIO(ctx context.Context, req *pb.CloseIORequest) (*pb.CloseIOResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if !req.Stdin {
		return &pb.CloseIOResponse{}, nil
	}
	w, err := t.shim.StdinExec(ctx, req.ExecId)
	if err != nil {
		return nil, err
	}
	return &pb.CloseIOResponse{}, w.CloseStdin()
}

func (ts *tasksService) ResizePty(ctx context.Context, req *pb.ResizePtyRequest) (*pb.ResizePtyResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	return &pb.ResizePtyResponse{}, t.shim.ResizeExecPty(ctx, req.ExecId, req.Width, req.Height)
}

func (ts *tasksService) Pause(ctx context.Context, req *pb.PauseTaskRequest) (*pb.PauseTaskResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := t.shim.Pause(ctx); err != nil {
		return nil, err
	}
	ts.s.tasks.publish(t, events.TaskPaused, nil)
	return &pb.PauseTaskResponse{}, nil
}

func (ts *tasksService) Resume(ctx context.Context, req *pb.ResumeTaskRequest) (*pb.ResumeTaskResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := t.shim.Resume(ctx); err != nil {
		return nil, err
	}
	ts.s.tasks.publish(t, events.TaskResumed, nil)
	return &pb.ResumeTaskResponse{}, nil
}

// ListPids and Metrics ask the task's shim, the only reader of its
// container's cgroup.
func (ts *tasksService) ListPids(ctx context.Context, req *pb.ListPidsRequest) (*pb.ListPidsResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	procs, err := t.shim.Pids(ctx)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	resp := &pb.ListPidsResponse{Processes: make([]*pb.ProcessInfo, 0, len(procs))}
	for _, p := range procs {
		resp.Processes = append(resp.Processes, &pb.ProcessInfo{Pid: p.Pid, ExecId: p.ExecId, Ppid: p.Ppid, Uid: p.Uid,
			Args: p.Args, Comm: p.Comm, Tty: p.Tty, StartedAt: p.StartedAt, CpuNs: p.CpuNs})
	}
	return resp, nil
}

func (ts *tasksService) Metrics(ctx context.Context, req *pb.MetricsRequest) (*pb.MetricsResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	stats := t.shim.Stats
	if req.Detail {
		stats = t.shim.DetailedStats
	}
	st, err := stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	// The host's CPU time is read right after the container's, the pair a
	// CPU percentage is computed from.
	sys, err := sysinfo.SystemCPUNs()
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	return &pb.MetricsResponse{SystemCpuNs: sys,
		ReadAt: st.ReadAt, CpuUsageNs: st.CpuUsageNs, CpuUserNs: st.CpuUserNs, CpuSystemNs: st.CpuSystemNs,
		CpuPercpuNs: st.CpuPercpuNs, MemoryUsage: st.MemoryUsage, MemoryLimit: st.MemoryLimit,
		MemoryMaxUsage: st.MemoryMaxUsage, MemoryCache: st.MemoryCache, PidsCurrent: st.PidsCurrent,
		PidsLimit: st.PidsLimit, IoReadBytes: st.IoReadBytes, IoWriteBytes: st.IoWriteBytes, OnlineCpus: st.OnlineCpus,
		Detail: metricsDetail(st.Detail),
	}, nil
}
