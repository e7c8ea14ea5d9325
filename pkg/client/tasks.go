package client

import (
	"context"
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// EventService streams the supervisor's events.
func (c *Client) EventService() supervisorv1.EventsClient {
	return supervisorv1.NewEventsClient(c.wrapped())
}

// Subscribe streams the events of the client's namespace whose topic
// starts with one of topics (all when none), from the moment it returns:
// it waits for the server to confirm the subscription, so nothing
// published after the call returns is missed. Cancel ctx to stop. The
// stream ends with an ErrUnavailable error when the subscriber fell too
// far behind (it is dropped rather than slow the supervisor down).
func (c *Client) Subscribe(ctx context.Context, topics ...string) (supervisorv1.Events_SubscribeClient, error) {
	st, err := c.EventService().Subscribe(ctx, &supervisorv1.SubscribeRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	if _, err := st.Header(); err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return st, nil
}

// ExecOpts describes a process to add to a running task.
type ExecOpts struct {
	// Spec is the OCI runtime-spec Process as JSON.
	Spec     []byte
	Stdin    bool
	Terminal bool
}

// Exec adds the process execID to the running task id and starts it,
// returning its pid. attach, when not nil, is called between the two so
// that an attacher misses nothing of the process's output.
func (c *Client) Exec(ctx context.Context, id, execID string, o ExecOpts, attach func() error) (uint32, error) {
	ts := c.TaskService()
	if _, err := ts.Exec(ctx, &supervisorv1.ExecProcessRequest{
		ContainerId: id, ExecId: execID, Spec: o.Spec, Stdin: o.Stdin, Terminal: o.Terminal,
	}); err != nil {
		return 0, err
	}
	if attach != nil {
		if err := attach(); err != nil {
			ts.Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: id, ExecId: execID, Force: true})
			return 0, fmt.Errorf("attach to exec %s: %w", execID, err)
		}
	}
	resp, err := ts.Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: id, ExecId: execID})
	if err != nil {
		ts.Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: id, ExecId: execID, Force: true})
		return 0, err
	}
	return resp.GetTask().GetPid(), nil
}

// Stdin writes to the stdin of a task's process ("" is the init) over
// one WriteStdin stream.
type Stdin struct {
	st         supervisorv1.Tasks_WriteStdinClient
	id, execID string
}

// OpenStdin opens a stream to the stdin of process execID of task id.
func (c *Client) OpenStdin(ctx context.Context, id, execID string) (*Stdin, error) {
	st, err := c.TaskService().WriteStdin(ctx)
	if err != nil {
		return nil, err
	}
	// The first message names the process.
	if err := st.Send(&supervisorv1.WriteStdinRequest{ContainerId: id, ExecId: execID}); err != nil {
		_, err = st.CloseAndRecv()
		return nil, err
	}
	return &Stdin{st: st, id: id, execID: execID}, nil
}

// Write sends p (copied: the stream keeps the message until it is sent).
func (s *Stdin) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 32 << 10 {
		end := min(off+32<<10, len(p))
		data := append([]byte(nil), p[off:end]...)
		if err := s.st.Send(&supervisorv1.WriteStdinRequest{ContainerId: s.id, ExecId: s.execID, Data: data}); err != nil {
			_, rerr := s.st.CloseAndRecv()
			if rerr != nil {
				err = rerr
			}
			return off, err
		}
	}
	return len(p), nil
}

// CloseStdin closes the process's stdin (EOF; ^D on a pty) and the stream.
func (s *Stdin) CloseStdin() error {
	if err := s.st.Send(&supervisorv1.WriteStdinRequest{ContainerId: s.id, ExecId: s.execID, Close: true}); err != nil {
		_, rerr := s.st.CloseAndRecv()
		if rerr != nil {
			return rerr
		}
		return err
	}
	_, err := s.st.CloseAndRecv()
	return err
}

// Close ends the stream and leaves the process's stdin open (detach).
func (s *Stdin) Close() error {
	_, err := s.st.CloseAndRecv()
	return err
}

// TaskMetrics reads the cgroup of a running task.
func (c *Client) TaskMetrics(ctx context.Context, id string) (*supervisorv1.MetricsResponse, error) {
	return c.TaskService().Metrics(ctx, &supervisorv1.MetricsRequest{ContainerId: id})
}

// TaskPids lists the processes of a running task.
func (c *Client) TaskPids(ctx context.Context, id string) ([]*supervisorv1.ProcessInfo, error) {
	resp, err := c.TaskService().ListPids(ctx, &supervisorv1.ListPidsRequest{ContainerId: id})
	if err != nil {
		return nil, err
	}
	return resp.GetProcesses(), nil
}
