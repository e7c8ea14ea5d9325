package supervisor

import (
	"context"

	"github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// taskShim is what supervisord asks of one task's shim, its container's
// only owner. pkg/shim/client implements it over the shim's socket; the
// unit tests use a fake, so that recovery and the exit monitor are tested
// without root.
type taskShim interface {
	Create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error)
	Start(ctx context.Context) (*shimv1.StartResponse, error)
	State(ctx context.Context) (*shimv1.StateResponse, error)
	Wait(ctx context.Context) (*shimv1.WaitResponse, error)
	Kill(ctx context.Context, signal uint32, all bool) error
	Delete(ctx context.Context, force bool) (*shimv1.DeleteResponse, error)
	Shutdown(ctx context.Context) error
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	Update(ctx context.Context, resources []byte) error
	Stats(ctx context.Context) (*shimv1.StatsResponse, error)
	DetailedStats(ctx context.Context) (*shimv1.StatsResponse, error)
	Pids(ctx context.Context) ([]*shimv1.ProcessInfo, error)
	ReopenLog(ctx context.Context) error

	Exec(ctx context.Context, req *shimv1.ExecRequest) error
	StartExec(ctx context.Context, execID string) (*shimv1.StartResponse, error)
	WaitExec(ctx context.Context, execID string) (*shimv1.WaitResponse, error)
	KillExec(ctx context.Context, execID string, signal uint32) error
	DeleteExec(ctx context.Context, execID string, force bool) (*shimv1.DeleteResponse, error)
	ListExecs(ctx context.Context) ([]*shimv1.StateResponse, error)
	AttachExec(ctx context.Context, execID string, stdout, stderr bool) (attachStream, error)
	StdinExec(ctx context.Context, execID string) (stdinWriter, error)
	ResizeExecPty(ctx context.Context, execID string, width, height uint32) error

	// Pid is the shim's pid when this supervisord started it, else 0.
	Pid() int
	// Exited is closed once a shim this supervisord started has exited;
	// nil for one it reconnected to.
	Exited() <-chan struct{}
	// Close drops the connection; the shim keeps running.
	Close() error
}

type attachStream interface {
	Recv() (*shimv1.AttachChunk, error)
}

type stdinWriter interface {
	Write(p []byte) (int, error)
	CloseStdin() error
	Close() error
}

// shimLauncher starts shims, reconnects to running ones, and has a fresh
// shim clean up after a dead one.
type shimLauncher interface {
	Start(ctx context.Context, o client.StartOpts) (taskShim, error)
	Connect(ctx context.Context, socket string) (taskShim, error)
	Cleanup(ctx context.Context, o client.StartOpts) (record.Exit, error)
}

// socketShims is the real launcher: pkg/shim/client, with spare shims
// started ahead (shims_spare.go).
type socketShims struct{ spares *spareShims }

func (l socketShims) Start(ctx context.Context, o client.StartOpts) (taskShim, error) {
	c, err := l.spares.start(ctx, o)
	if err != nil {
		return nil, err
	}
	return clientShim{c}, nil
}

// Warm starts a spare shim of binary for a task expected soon, with a
// standby of standbyRuntime (berth's runtime; "" for none).
func (l socketShims) Warm(binary, standbyRuntime string) { l.spares.warm(binary, standbyRuntime) }

// CloseSpares makes the spares nobody took exit.
func (l socketShims) CloseSpares() { l.spares.close() }

func (socketShims) Connect(ctx context.Context, socket string) (taskShim, error) {
	c, err := client.Connect(ctx, socket)
	if err != nil {
		return nil, err
	}
	return clientShim{c}, nil
}

func (socketShims) Cleanup(ctx context.Context, o client.StartOpts) (record.Exit, error) {
	return client.Cleanup(ctx, o)
}

// clientShim adapts the client's concrete stream types to the interface.
type clientShim struct{ *client.Client }

func (c clientShim) AttachExec(ctx context.Context, execID string, stdout, stderr bool) (attachStream, error) {
	a, err := c.Client.AttachExec(ctx, execID, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (c clientShim) StdinExec(ctx context.Context, execID string) (stdinWriter, error) {
	w, err := c.Client.StdinExec(ctx, execID)
	if err != nil {
		return nil, err
	}
	return w, nil
}
