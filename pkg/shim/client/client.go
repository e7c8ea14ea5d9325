// Package client starts shims and talks to them. supervisord uses it: Start
// launches a shim for a new container, Connect reattaches to a running shim
// after a supervisord restart.
package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/trace/tracegrpc"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// DefaultReadyTimeout bounds how long Start waits for a shim to listen.
const DefaultReadyTimeout = 10 * time.Second

// StartOpts describes the shim to launch; see docs/shim.md.
type StartOpts struct {
	ID          string
	Bundle      string
	Runtime     string   // OCI runtime binary
	RuntimeRoot string   // runtime --root; empty for the runtime's default
	RuntimeArgs []string // extra global runtime arguments
	Socket      string   // unix socket path, at most 107 bytes
	StateDir    string   // the shim's own directory; removed on Shutdown
	ShimBinary  string   // path of the shim executable
	Debug       bool
	// ReadyTimeout defaults to DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Client is a connection to one shim. Its methods return errors of the
// errdefs classes.
type Client struct {
	conn   *grpc.ClientConn
	shim   shimv1.ShimClient
	socket string
	pid    int
	exited chan struct{} // closed when a shim this client started exited
}

// Start launches a shim in its own session, waits until it listens and
// connects to it. The shim outlives the caller: its stdio is /dev/null
// (stderr goes to StateDir/shim.log) and nothing links it to the caller
// but the socket. The caller reaps it when it exits.
func Start(ctx context.Context, o StartOpts) (*Client, error) {
	if o.ShimBinary == "" || o.ID == "" || o.Bundle == "" || o.Runtime == "" || o.StateDir == "" {
		return nil, fmt.Errorf("start shim: shim binary, id, bundle, runtime and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	// The shim runs in "/": relative paths would change meaning.
	for _, p := range []*string{&o.Bundle, &o.StateDir, &o.Socket, &o.RuntimeRoot, &o.ShimBinary} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, fmt.Errorf("start shim: %w", err)
			}
			*p = abs
		}
	}
	if strings.Contains(o.Runtime, "/") {
		abs, err := filepath.Abs(o.Runtime)
		if err != nil {
			return nil, fmt.Errorf("start shim: %w", err)
		}
		o.Runtime = abs
	}
	if err := shim.CheckSocketPath(o.Socket); err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	args := []string{"--id", o.ID, "--bundle", o.Bundle, "--runtime", o.Runtime,
		"--socket", o.Socket, "--state-dir", o.StateDir}
	if o.RuntimeRoot != "" {
		args = append(args, "--runtime-root", o.RuntimeRoot)
	}
	for _, a := range o.RuntimeArgs {
		args = append(args, "--runtime-arg", a)
	}
	if o.Debug {
		args = append(args, "--debug")
	}

	logPath := filepath.Join(o.StateDir, shim.ShimLogFile)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start shim: open log: %w", err)
	}
	defer logFile.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()

	cmd := exec.Command(o.ShimBinary, args...)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, logFile
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", o.ShimBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(readyR).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	fail := func(err error) (*Client, error) {
		cmd.Process.Kill()
		return nil, err
	}
	select {
	case s := <-line:
		if s != "ok" {
			<-exited
			if s == "" {
				s = lastLogLine(logPath)
			}
			if s == "" {
				s = "exited before it was ready"
			}
			return nil, fmt.Errorf("start shim for %s: %s", o.ID, strings.TrimPrefix(s, "error: "))
		}
	case <-time.After(timeout):
		return fail(fmt.Errorf("start shim for %s: not ready after %v: %w", o.ID, timeout, errdefs.ErrUnavailable))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	c, err := dial(o.Socket)
	if err != nil {
		return fail(err)
	}
	c.pid, c.exited = cmd.Process.Pid, exited
	return c, nil
}

func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// Connect connects to a running shim by its socket, for example after a
// supervisord restart. It fails with ErrUnavailable when nothing listens.
func Connect(ctx context.Context, socket string) (*Client, error) {
	if err := shim.CheckSocketPath(socket); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to shim %s: %v: %w", socket, err, errdefs.ErrUnavailable)
	}
	conn.Close()
	return dial(socket)
}

func dial(socket string) (*Client, error) {
	conn, err := grpc.NewClient("passthrough:///shim",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}),
		grpc.WithChainUnaryInterceptor(tracegrpc.UnaryClient()),
	)
	if err != nil {
		return nil, fmt.Errorf("dial shim %s: %w", socket, err)
	}
	return &Client{conn: conn, shim: shimv1.NewShimClient(conn), socket: socket}, nil
}

// Pid is the shim's process id when this client started it, else 0.
func (c *Client) Pid() int { return c.pid }

// Socket is the shim's socket path.
func (c *Client) Socket() string { return c.socket }

// Exited is closed once a shim started by this client has exited (and
// been reaped); nil for a client from Connect.
func (c *Client) Exited() <-chan struct{} { return c.exited }

// Close closes the connection; the shim keeps running.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) Create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error) {
	resp, err := c.shim.Create(ctx, req)
	return resp, errdefs.FromGRPC(err)
}

func (c *Client) Start(ctx context.Context) (*shimv1.StartResponse, error) {
	resp, err := c.shim.Start(ctx, &shimv1.StartRequest{})
	return resp, errdefs.FromGRPC(err)
}

func (c *Client) State(ctx context.Context) (*shimv1.StateResponse, error) {
	resp, err := c.shim.State(ctx, &shimv1.StateRequest{})
	return resp, errdefs.FromGRPC(err)
}

func (c *Client) Wait(ctx context.Context) (*shimv1.WaitResponse, error) {
	resp, err := c.shim.Wait(ctx, &shimv1.WaitRequest{})
	return resp, errdefs.FromGRPC(err)
}

func (c *Client) Kill(ctx context.Context, signal uint32, all bool) error {
	_, err := c.shim.Kill(ctx, &shimv1.KillRequest{Signal: signal, All: all})
	return errdefs.FromGRPC(err)
}

func (c *Client) Delete(ctx context.Context, force bool) (*shimv1.DeleteResponse, error) {
	resp, err := c.shim.Delete(ctx, &shimv1.DeleteRequest{Force: force})
	return resp, errdefs.FromGRPC(err)
}

// Shutdown asks the shim to exit; it must have deleted its container.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.shim.Shutdown(ctx, &shimv1.ShutdownRequest{})
	return errdefs.FromGRPC(err)
}

// AttachStream receives the container's output; Recv returns io.EOF once
// the container exited and its output is drained.
type AttachStream struct {
	s shimv1.Shim_AttachClient
}

func (a *AttachStream) Recv() (*shimv1.AttachChunk, error) {
	m, err := a.s.Recv()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	return m, errdefs.FromGRPC(err)
}

// Attach streams stdout and/or stderr (both when neither is asked for)
// from now until the container's output is drained. Cancel ctx to detach.
func (c *Client) Attach(ctx context.Context, stdout, stderr bool) (*AttachStream, error) {
	s, err := c.shim.Attach(ctx, &shimv1.AttachRequest{Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	// The shim sends the header once the attacher is registered (or ends
	// the stream when the output is already drained).
	if _, err := s.Header(); err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &AttachStream{s: s}, nil
}

// Pause freezes the container.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.shim.Pause(ctx, &shimv1.PauseRequest{})
	return errdefs.FromGRPC(err)
}

// Resume thaws a paused container.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.shim.Resume(ctx, &shimv1.ResumeRequest{})
	return errdefs.FromGRPC(err)
}

// ResizePty sets the window size of the container's pty.
func (c *Client) ResizePty(ctx context.Context, width, height uint32) error {
	_, err := c.shim.ResizePty(ctx, &shimv1.ResizePtyRequest{Width: width, Height: height})
	return errdefs.FromGRPC(err)
}

// StdinWriter writes to the container's stdin over one WriteStdin stream.
type StdinWriter struct {
	s      shimv1.Shim_WriteStdinClient
	execID string // sent in the first chunk, which names the process
}

func (w *StdinWriter) send(c *shimv1.StdinChunk) error {
	if w.execID != "" {
		c.ExecId, w.execID = w.execID, ""
	}
	return w.s.Send(c)
}

// Stdin opens a stream to the container's stdin (CreateRequest.stdin or
// terminal mode).
func (c *Client) Stdin(ctx context.Context) (*StdinWriter, error) {
	s, err := c.shim.WriteStdin(ctx)
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &StdinWriter{s: s}, nil
}

// Write sends p; an error of the shim shows up here or at Close.
func (w *StdinWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 32 << 10 {
		end := min(off+32<<10, len(p))
		if err := w.send(&shimv1.StdinChunk{Data: p[off:end]}); err != nil {
			return off, w.finish(err)
		}
	}
	return len(p), nil
}

// CloseStdin closes the container's stdin (sends EOF) and ends the stream.
func (w *StdinWriter) CloseStdin() error {
	if err := w.send(&shimv1.StdinChunk{Close: true}); err != nil {
		return w.finish(err)
	}
	return w.Close()
}

// Close ends the stream and leaves the container's stdin open (detach).
func (w *StdinWriter) Close() error {
	_, err := w.s.CloseAndRecv()
	return errdefs.FromGRPC(err)
}

// finish returns the shim's real error after a failed Send (which only
// reports io.EOF).
func (w *StdinWriter) finish(err error) error {
	if errors.Is(err, io.EOF) {
		_, err = w.s.CloseAndRecv()
	}
	return errdefs.FromGRPC(err)
}

// Exec adds a process to the running container; StartExec runs it.
func (c *Client) Exec(ctx context.Context, req *shimv1.ExecRequest) error {
	_, err := c.shim.Exec(ctx, req)
	return errdefs.FromGRPC(err)
}

// StartExec starts an exec added by Exec.
func (c *Client) StartExec(ctx context.Context, execID string) (*shimv1.StartResponse, error) {
	resp, err := c.shim.Start(ctx, &shimv1.StartRequest{ExecId: execID})
	return resp, errdefs.FromGRPC(err)
}

// StateExec reports an exec's process.
func (c *Client) StateExec(ctx context.Context, execID string) (*shimv1.StateResponse, error) {
	resp, err := c.shim.State(ctx, &shimv1.StateRequest{ExecId: execID})
	return resp, errdefs.FromGRPC(err)
}

// WaitExec blocks until an exec's process exited and its output drained.
func (c *Client) WaitExec(ctx context.Context, execID string) (*shimv1.WaitResponse, error) {
	resp, err := c.shim.Wait(ctx, &shimv1.WaitRequest{ExecId: execID})
	return resp, errdefs.FromGRPC(err)
}

// KillExec signals an exec's process.
func (c *Client) KillExec(ctx context.Context, execID string, signal uint32) error {
	_, err := c.shim.Kill(ctx, &shimv1.KillRequest{ExecId: execID, Signal: signal})
	return errdefs.FromGRPC(err)
}

// DeleteExec forgets a finished exec (with force, kills a running one first).
func (c *Client) DeleteExec(ctx context.Context, execID string, force bool) (*shimv1.DeleteResponse, error) {
	resp, err := c.shim.Delete(ctx, &shimv1.DeleteRequest{ExecId: execID, Force: force})
	return resp, errdefs.FromGRPC(err)
}

// AttachExec streams an exec's output, as Attach does the init's.
func (c *Client) AttachExec(ctx context.Context, execID string, stdout, stderr bool) (*AttachStream, error) {
	s, err := c.shim.Attach(ctx, &shimv1.AttachRequest{ExecId: execID, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	if _, err := s.Header(); err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &AttachStream{s: s}, nil
}

// StdinExec opens a stream to an exec's stdin ("" is the init's).
func (c *Client) StdinExec(ctx context.Context, execID string) (*StdinWriter, error) {
	s, err := c.shim.WriteStdin(ctx)
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &StdinWriter{s: s, execID: execID}, nil
}

// ResizeExecPty sets the window size of an exec's pty ("" is the init's).
func (c *Client) ResizeExecPty(ctx context.Context, execID string, width, height uint32) error {
	_, err := c.shim.ResizePty(ctx, &shimv1.ResizePtyRequest{ExecId: execID, Width: width, Height: height})
	return errdefs.FromGRPC(err)
}

// ListExecs reports the execs the shim holds.
func (c *Client) ListExecs(ctx context.Context) ([]*shimv1.StateResponse, error) {
	resp, err := c.shim.ListExecs(ctx, &shimv1.ListExecsRequest{})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return resp.Execs, nil
}

// Update changes the container's resource limits; resources is an OCI
// LinuxResources as JSON.
func (c *Client) Update(ctx context.Context, resources []byte) error {
	_, err := c.shim.Update(ctx, &shimv1.UpdateRequest{Resources: resources})
	return errdefs.FromGRPC(err)
}
