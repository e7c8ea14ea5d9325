package containers

import (
	"context"
	"time"

	"google.golang.org/grpc/metadata"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Processes is the part of the supervisor's task API that addresses one
// process of a task: execID "" is the task's init process.
type Processes interface {
	// ExecProcess adds an exec process (spec is an OCI Process, JSON) to a
	// running task; StartProcess starts it.
	ExecProcess(ctx context.Context, id, execID string, spec []byte, stdin, tty bool) error
	StartProcess(ctx context.Context, id, execID string) (pid uint32, err error)
	KillProcess(ctx context.Context, id, execID string, signal uint32) error
	WaitProcess(ctx context.Context, id, execID string) (*supervisorv1.WaitTaskResponse, error)
	DeleteProcess(ctx context.Context, id, execID string) error
	AttachProcess(ctx context.Context, id, execID string, stdout, stderr bool) (Output, error)
	// OpenStdin opens a writer of the process's stdin.
	OpenStdin(ctx context.Context, id, execID string) (Stdin, error)
	ResizePty(ctx context.Context, id, execID string, width, height uint32) error

	PauseTask(ctx context.Context, id string) error
	ResumeTask(ctx context.Context, id string) error
	ListPids(ctx context.Context, id string) ([]*supervisorv1.ProcessInfo, error)
	Metrics(ctx context.Context, id string) (*supervisorv1.MetricsResponse, error)
	// ContainerSpec returns the OCI spec (JSON) the container was created with.
	ContainerSpec(ctx context.Context, id string) ([]byte, error)
	// Subscribe streams the namespace's events whose topic starts with one
	// of topics (all when empty).
	Subscribe(ctx context.Context, topics ...string) (EventStream, error)
}

// Stdin writes to a process's stdin. Close sends EOF to the process;
// Detach only ends this writer.
type Stdin interface {
	Write(p []byte) (int, error)
	Close() error
	Detach() error
}

// EventStream is a supervisor event subscription; Recv returns an error at
// its end.
type EventStream interface {
	Recv() (*supervisorv1.Envelope, error)
}

func (r *Remote) ExecProcess(ctx context.Context, id, execID string, spec []byte, stdin, tty bool) error {
	_, err := r.C.TaskService().Exec(ctx, &supervisorv1.ExecProcessRequest{ContainerId: id, ExecId: execID, Spec: spec, Stdin: stdin, Terminal: tty})
	return err
}

func (r *Remote) StartProcess(ctx context.Context, id, execID string) (uint32, error) {
	resp, err := r.C.TaskService().Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: id, ExecId: execID})
	if err != nil {
		return 0, err
	}
	return resp.GetTask().GetPid(), nil
}

func (r *Remote) KillProcess(ctx context.Context, id, execID string, signal uint32) error {
	_, err := r.C.TaskService().Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: id, ExecId: execID, Signal: signal})
	return err
}

func (r *Remote) WaitProcess(ctx context.Context, id, execID string) (*supervisorv1.WaitTaskResponse, error) {
	return r.C.TaskService().Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: id, ExecId: execID})
}

func (r *Remote) DeleteProcess(ctx context.Context, id, execID string) error {
	_, err := r.C.TaskService().Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: id, ExecId: execID})
	return err
}

func (r *Remote) AttachProcess(ctx context.Context, id, execID string, stdout, stderr bool) (Output, error) {
	st, err := r.C.TaskService().Attach(ctx, &supervisorv1.AttachTaskRequest{ContainerId: id, ExecId: execID, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, err
	}
	waitHeader(ctx, st)
	return st, nil
}

func (r *Remote) OpenStdin(ctx context.Context, id, execID string) (Stdin, error) {
	st, err := r.C.TaskService().WriteStdin(ctx)
	if err != nil {
		return nil, err
	}
	// The first message names the process, so that a Close with no data
	// before it still reaches the right one.
	if err := st.Send(&supervisorv1.WriteStdinRequest{ContainerId: id, ExecId: execID}); err != nil {
		return nil, err
	}
	return &remoteStdin{st: st, id: id, execID: execID}, nil
}

type remoteStdin struct {
	st         supervisorv1.Tasks_WriteStdinClient
	id, execID string
}

func (s *remoteStdin) Write(p []byte) (int, error) {
	// gRPC keeps a reference to the message until it is sent: copy.
	data := append([]byte(nil), p...)
	if err := s.st.Send(&supervisorv1.WriteStdinRequest{ContainerId: s.id, ExecId: s.execID, Data: data}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *remoteStdin) Close() error {
	if err := s.st.Send(&supervisorv1.WriteStdinRequest{ContainerId: s.id, ExecId: s.execID, Close: true}); err != nil {
		return err
	}
	_, err := s.st.CloseAndRecv()
	return err
}

func (s *remoteStdin) Detach() error {
	_, err := s.st.CloseAndRecv()
	return err
}

func (r *Remote) ResizePty(ctx context.Context, id, execID string, width, height uint32) error {
	_, err := r.C.TaskService().ResizePty(ctx, &supervisorv1.ResizePtyRequest{ContainerId: id, ExecId: execID, Width: width, Height: height})
	return err
}

func (r *Remote) PauseTask(ctx context.Context, id string) error {
	_, err := r.C.TaskService().Pause(ctx, &supervisorv1.PauseTaskRequest{ContainerId: id})
	return err
}

func (r *Remote) ResumeTask(ctx context.Context, id string) error {
	_, err := r.C.TaskService().Resume(ctx, &supervisorv1.ResumeTaskRequest{ContainerId: id})
	return err
}

func (r *Remote) ListPids(ctx context.Context, id string) ([]*supervisorv1.ProcessInfo, error) {
	resp, err := r.C.TaskService().ListPids(ctx, &supervisorv1.ListPidsRequest{ContainerId: id})
	if err != nil {
		return nil, err
	}
	return resp.GetProcesses(), nil
}

func (r *Remote) Metrics(ctx context.Context, id string) (*supervisorv1.MetricsResponse, error) {
	return r.C.TaskService().Metrics(ctx, &supervisorv1.MetricsRequest{ContainerId: id})
}

func (r *Remote) ContainerSpec(ctx context.Context, id string) ([]byte, error) {
	resp, err := r.C.ContainerService().Get(ctx, &supervisorv1.GetContainerRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.GetContainer().GetSpec(), nil
}

func (r *Remote) Subscribe(ctx context.Context, topics ...string) (EventStream, error) {
	return r.C.Subscribe(ctx, topics...)
}

// waitHeader waits a little for a stream's headers: a server that subscribed
// sends them, so a start after this loses no output.
func waitHeader(ctx context.Context, st interface{ Header() (metadata.MD, error) }) {
	done := make(chan struct{})
	go func() { st.Header(); close(done) }()
	select {
	case <-done:
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
}
