// Package client starts shims and talks to them. supervisord uses it: Start
// launches a shim for a new container, Connect reattaches to a running shim
// after a supervisord restart.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/containerd/ttrpc"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim/record"
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
	// RuntimeStandby: Runtime is berth's, which speaks `runtime standby`.
	RuntimeStandby bool
	Socket         string // unix socket path, at most 107 bytes
	StateDir       string // the shim's own directory; removed on Shutdown
	ShimBinary     string // path of the shim executable
	Debug          bool
	// ReadyTimeout defaults to DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Client is a connection to one shim. Its methods return errors of the
// errdefs classes.
type Client struct {
	conn   *ttrpc.Client
	shim   shimv1.ShimClient
	socket string
	pid    int
	exited chan struct{} // closed when a shim this client started exited
	// setUp, for a spare's client, waits for the shim to be set up and
	// returns its error (watchReady); nil otherwise.
	setUp func() error
}

// Start launches a shim in its own session, waits until it listens and
// connects to it. The shim outlives the caller: its stdio is /dev/null
// (stderr goes to StateDir/shim.log) and nothing links it to the caller
// but the socket. The caller reaps it when it exits.
func Start(ctx context.Context, o StartOpts) (*Client, error) {
	args, logFile, err := prepare(&o)
	if err != nil {
		return nil, err
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
	return awaitReady(ctx, o, cmd.Process, reap(cmd), readyR, logFile.Name())
}

// prepare checks o and makes its paths absolute (the shim runs in "/":
// relative paths would change meaning), creates the state directory and
// opens the shim's log there. It returns the shim's arguments.
func prepare(o *StartOpts) ([]string, *os.File, error) {
	if o.ShimBinary == "" || o.ID == "" || o.Bundle == "" || o.Runtime == "" || o.StateDir == "" {
		return nil, nil, fmt.Errorf("start shim: shim binary, id, bundle, runtime and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	for _, p := range []*string{&o.Bundle, &o.StateDir, &o.Socket, &o.RuntimeRoot, &o.ShimBinary} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, nil, fmt.Errorf("start shim: %w", err)
			}
			*p = abs
		}
	}
	if strings.Contains(o.Runtime, "/") {
		abs, err := filepath.Abs(o.Runtime)
		if err != nil {
			return nil, nil, fmt.Errorf("start shim: %w", err)
		}
		o.Runtime = abs
	}
	if err := record.CheckSocketPath(o.Socket); err != nil {
		return nil, nil, fmt.Errorf("start shim: %w", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("start shim: %w", err)
	}
	args := []string{"--id", o.ID, "--bundle", o.Bundle, "--runtime", o.Runtime,
		"--socket", o.Socket, "--state-dir", o.StateDir}
	if o.RuntimeRoot != "" {
		args = append(args, "--runtime-root", o.RuntimeRoot)
	}
	for _, a := range o.RuntimeArgs {
		args = append(args, "--runtime-arg", a)
	}
	if o.RuntimeStandby {
		args = append(args, "--runtime-standby")
	}
	if o.Debug {
		args = append(args, "--debug")
	}
	logPath := filepath.Join(o.StateDir, record.ShimLogFile)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("start shim: open log: %w", err)
	}
	return args, logFile, nil
}

// reap waits for the started shim in the background; the channel is
// closed once it has exited.
func reap(cmd *exec.Cmd) chan struct{} {
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return exited
}

// awaitReady waits for the shim's line on readyR and connects to it; a
// shim that is not ready in time is killed.
func awaitReady(ctx context.Context, o StartOpts, proc *os.Process, exited chan struct{}, readyR *os.File, logPath string) (*Client, error) {
	if err := readyErr(ctx, o, proc, exited, readyR, logPath); err != nil {
		return nil, err
	}
	c, err := dial(o.Socket)
	if err != nil {
		proc.Kill()
		return nil, err
	}
	c.pid, c.exited = proc.Pid, exited
	return c, nil
}

// readyErr waits for the shim's readiness line on readyR: nil for "ok",
// else the shim's error (its line, or the last line of its log). A shim
// that is not ready in time, or when ctx ends, is killed.
func readyErr(ctx context.Context, o StartOpts, proc *os.Process, exited chan struct{}, readyR *os.File, logPath string) error {
	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(readyR).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s == "ok" {
			return nil
		}
		<-exited
		if s == "" {
			s = lastLogLine(logPath)
		}
		if s == "" {
			s = "exited before it was ready"
		}
		return fmt.Errorf("start shim for %s: %s", o.ID, strings.TrimPrefix(s, "error: "))
	case <-time.After(timeout):
		proc.Kill()
		return fmt.Errorf("start shim for %s: not ready after %v: %w", o.ID, timeout, errdefs.ErrUnavailable)
	case <-ctx.Done():
		proc.Kill()
		return ctx.Err()
	}
}

// watchReady reads a spare's readiness line in the background (Spare.Start
// returns without waiting for it); a shim that failed is dropped and conn,
// its API connection, closed, so that the calls made meanwhile end. The
// result waits for the line and returns the shim's error.
func watchReady(o StartOpts, proc *os.Process, exited chan struct{}, readyR *os.File, logPath string, conn *ttrpc.Client) func() error {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		defer readyR.Close()
		if err = readyErr(context.Background(), o, proc, exited, readyR, logPath); err != nil {
			conn.Close()
		}
	}()
	return func() error {
		<-done
		return err
	}
}

func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLine(b)
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// Connect connects to a running shim by its socket, for example after a
// supervisord restart. It fails with ErrUnavailable when nothing listens.
func Connect(ctx context.Context, socket string) (*Client, error) {
	if err := record.CheckSocketPath(socket); err != nil {
		return nil, err
	}
	conn, err := dialConn(ctx, socket)
	if err != nil {
		return nil, err
	}
	return newClient(conn, socket), nil
}

func dial(socket string) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialConn(ctx, socket)
	if err != nil {
		return nil, err
	}
	return newClient(conn, socket), nil
}

func newClient(conn *ttrpc.Client, socket string) *Client {
	return &Client{conn: conn, shim: shimv1.NewShimClient(conn), socket: socket}
}

// dialConn opens one ttrpc connection. Streams that a caller may abandon
// (Attach, WriteStdin) get a connection of their own: ttrpc cannot cancel
// a stream, but closing its connection ends the shim's side of it.
func dialConn(ctx context.Context, socket string) (*ttrpc.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to shim %s: %v: %w", socket, err, errdefs.ErrUnavailable)
	}
	return ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(traceCalls(socket))), nil
}

// wrap turns an error of a call into an errdefs class: the shim's own
// errors come as gRPC statuses; a connection that broke (the shim died
// or exited) is Unavailable.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ttrpc.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("shim connection: %v: %w", err, errdefs.ErrUnavailable)
	}
	return errdefs.FromGRPC(err)
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
	if err != nil && c.setUp != nil {
		// A spare's first call: its set-up's failure is the one to tell.
		if serr := c.setUp(); serr != nil {
			return nil, serr
		}
	}
	return resp, wrap(err)
}

func (c *Client) Start(ctx context.Context) (*shimv1.StartResponse, error) {
	resp, err := c.shim.Start(ctx, &shimv1.StartRequest{})
	return resp, wrap(err)
}

func (c *Client) State(ctx context.Context) (*shimv1.StateResponse, error) {
	resp, err := c.shim.State(ctx, &shimv1.StateRequest{})
	return resp, wrap(err)
}

func (c *Client) Wait(ctx context.Context) (*shimv1.WaitResponse, error) {
	resp, err := c.shim.Wait(ctx, &shimv1.WaitRequest{})
	return resp, wrap(err)
}

func (c *Client) Kill(ctx context.Context, signal uint32, all bool) error {
	_, err := c.shim.Kill(ctx, &shimv1.KillRequest{Signal: signal, All: all})
	return wrap(err)
}

func (c *Client) Delete(ctx context.Context, force bool) (*shimv1.DeleteResponse, error) {
	resp, err := c.shim.Delete(ctx, &shimv1.DeleteRequest{Force: force})
	return resp, wrap(err)
}

// Shutdown asks the shim to exit; it must have deleted its container.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.shim.Shutdown(ctx, &shimv1.ShutdownRequest{})
	return wrap(err)
}

// AttachStream receives the container's output; Recv returns io.EOF once
// the container exited and its output is drained.
type AttachStream struct {
	s    shimv1.Shim_AttachClient
	conn *ttrpc.Client
	stop func() bool
	done bool
}

func (a *AttachStream) Recv() (*shimv1.AttachChunk, error) {
	if a.done {
		return nil, io.EOF
	}
	m, err := a.s.Recv()
	if err != nil {
		a.close()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, wrap(err)
	}
	return m, nil
}

func (a *AttachStream) close() {
	a.done = true
	a.stop()
	a.conn.Close()
}

// Attach streams stdout and/or stderr (both when neither is asked for)
// from now until the container's output is drained. Cancel ctx to detach.
func (c *Client) Attach(ctx context.Context, stdout, stderr bool) (*AttachStream, error) {
	return c.AttachExec(ctx, "", stdout, stderr)
}

// Pause freezes the container.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.shim.Pause(ctx, &shimv1.PauseRequest{})
	return wrap(err)
}

// Resume thaws a paused container.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.shim.Resume(ctx, &shimv1.ResumeRequest{})
	return wrap(err)
}

// ResizePty sets the window size of the container's pty.
func (c *Client) ResizePty(ctx context.Context, width, height uint32) error {
	_, err := c.shim.ResizePty(ctx, &shimv1.ResizePtyRequest{Width: width, Height: height})
	return wrap(err)
}

// StdinWriter writes to the container's stdin over one WriteStdin stream,
// on a connection of its own (see dialConn).
type StdinWriter struct {
	s      shimv1.Shim_WriteStdinClient
	conn   *ttrpc.Client
	stop   func() bool
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
	return c.StdinExec(ctx, "")
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
	w.stop()
	w.conn.Close()
	return wrap(err)
}

// finish returns the shim's real error after a failed Send.
func (w *StdinWriter) finish(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, ttrpc.ErrStreamClosed) {
		_, err = w.s.CloseAndRecv()
	}
	w.stop()
	w.conn.Close()
	return wrap(err)
}

// Exec adds a process to the running container; StartExec runs it.
func (c *Client) Exec(ctx context.Context, req *shimv1.ExecRequest) error {
	_, err := c.shim.Exec(ctx, req)
	return wrap(err)
}

// StartExec starts an exec added by Exec.
func (c *Client) StartExec(ctx context.Context, execID string) (*shimv1.StartResponse, error) {
	resp, err := c.shim.Start(ctx, &shimv1.StartRequest{ExecId: execID})
	return resp, wrap(err)
}

// StateExec reports an exec's process.
func (c *Client) StateExec(ctx context.Context, execID string) (*shimv1.StateResponse, error) {
	resp, err := c.shim.State(ctx, &shimv1.StateRequest{ExecId: execID})
	return resp, wrap(err)
}

// WaitExec blocks until an exec's process exited and its output drained.
func (c *Client) WaitExec(ctx context.Context, execID string) (*shimv1.WaitResponse, error) {
	resp, err := c.shim.Wait(ctx, &shimv1.WaitRequest{ExecId: execID})
	return resp, wrap(err)
}

// KillExec signals an exec's process.
func (c *Client) KillExec(ctx context.Context, execID string, signal uint32) error {
	_, err := c.shim.Kill(ctx, &shimv1.KillRequest{ExecId: execID, Signal: signal})
	return wrap(err)
}

// DeleteExec forgets a finished exec (with force, kills a running one first).
func (c *Client) DeleteExec(ctx context.Context, execID string, force bool) (*shimv1.DeleteResponse, error) {
	resp, err := c.shim.Delete(ctx, &shimv1.DeleteRequest{ExecId: execID, Force: force})
	return resp, wrap(err)
}

// AttachExec streams an exec's output ("" is the init's), as Attach
// does. The stream has a connection of its own, closed when ctx is
// cancelled or the stream ends: that is what detaches on the shim's side.
func (c *Client) AttachExec(ctx context.Context, execID string, stdout, stderr bool) (*AttachStream, error) {
	conn, err := dialConn(ctx, c.socket)
	if err != nil {
		return nil, err
	}
	s, err := shimv1.NewShimClient(conn).Attach(ctx, &shimv1.AttachRequest{ExecId: execID, Stdout: stdout, Stderr: stderr})
	if err != nil {
		conn.Close()
		return nil, wrap(err)
	}
	a := &AttachStream{s: s, conn: conn, stop: context.AfterFunc(ctx, func() { conn.Close() })}
	// The shim sends an empty chunk once the attacher is registered (or
	// ends the stream when the output is already drained).
	if _, err := s.Recv(); err != nil {
		a.close()
		if errors.Is(err, io.EOF) {
			a.done = true
			return a, nil
		}
		return nil, wrap(err)
	}
	return a, nil
}

// StdinExec opens a stream to an exec's stdin ("" is the init's).
func (c *Client) StdinExec(ctx context.Context, execID string) (*StdinWriter, error) {
	conn, err := dialConn(ctx, c.socket)
	if err != nil {
		return nil, err
	}
	s, err := shimv1.NewShimClient(conn).WriteStdin(ctx)
	if err != nil {
		conn.Close()
		return nil, wrap(err)
	}
	return &StdinWriter{s: s, conn: conn, execID: execID, stop: context.AfterFunc(ctx, func() { conn.Close() })}, nil
}

// ResizeExecPty sets the window size of an exec's pty ("" is the init's).
func (c *Client) ResizeExecPty(ctx context.Context, execID string, width, height uint32) error {
	_, err := c.shim.ResizePty(ctx, &shimv1.ResizePtyRequest{ExecId: execID, Width: width, Height: height})
	return wrap(err)
}

// ListExecs reports the execs the shim holds.
func (c *Client) ListExecs(ctx context.Context) ([]*shimv1.StateResponse, error) {
	resp, err := c.shim.ListExecs(ctx, &shimv1.ListExecsRequest{})
	if err != nil {
		return nil, wrap(err)
	}
	return resp.Execs, nil
}

// Update changes the container's resource limits; resources is an OCI
// LinuxResources as JSON.
func (c *Client) Update(ctx context.Context, resources []byte) error {
	_, err := c.shim.Update(ctx, &shimv1.UpdateRequest{Resources: resources})
	return wrap(err)
}

// DefaultCleanupTimeout bounds Cleanup.
const DefaultCleanupTimeout = 30 * time.Second

// Cleanup runs `shim delete` (a fresh shim binary) for a container whose
// shim died: it deletes what the runtime left and reports the exit status
// the dead shim recorded (255 when it had recorded none). o describes the
// dead shim as it was started; its state directory and socket are the
// caller's to remove afterwards. The caller never runs the runtime nor
// reads the shim's files itself.
func Cleanup(ctx context.Context, o StartOpts) (record.Exit, error) {
	if o.ShimBinary == "" || o.ID == "" || o.Runtime == "" || o.StateDir == "" {
		return record.Exit{}, fmt.Errorf("shim delete: shim binary, id, runtime and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	args := []string{"delete", "--id", o.ID, "--bundle", o.Bundle, "--runtime", o.Runtime, "--state-dir", o.StateDir}
	if o.Socket != "" {
		args = append(args, "--socket", o.Socket)
	}
	if o.RuntimeRoot != "" {
		args = append(args, "--runtime-root", o.RuntimeRoot)
	}
	for _, a := range o.RuntimeArgs {
		args = append(args, "--runtime-arg", a)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultCleanupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.ShimBinary, args...)
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rec record.Exit
	if err == nil {
		err = json.Unmarshal(stdout.Bytes(), &rec)
	}
	if err != nil {
		msg := strings.TrimPrefix(lastLine(stderr.Bytes()), "error: ")
		return record.Exit{}, fmt.Errorf("shim delete %s: %v: %s", o.ID, err, msg)
	}
	return rec, nil
}

// Stats reads the container's cgroup counters.
func (c *Client) Stats(ctx context.Context) (*shimv1.StatsResponse, error) {
	resp, err := c.shim.Stats(ctx, &shimv1.StatsRequest{})
	return resp, wrap(err)
}

// DetailedStats reads the counters and their detail (the CRI's metrics),
// the processes' open files included.
func (c *Client) DetailedStats(ctx context.Context) (*shimv1.StatsResponse, error) {
	resp, err := c.shim.Stats(ctx, &shimv1.StatsRequest{Detail: true})
	return resp, wrap(err)
}

// Pids lists the container's processes with the exec that started each.
func (c *Client) Pids(ctx context.Context) ([]*shimv1.ProcessInfo, error) {
	resp, err := c.shim.Pids(ctx, &shimv1.PidsRequest{})
	if err != nil {
		return nil, wrap(err)
	}
	return resp.Processes, nil
}

// ReopenLog has the shim open the container's log file again.
func (c *Client) ReopenLog(ctx context.Context) error {
	_, err := c.shim.ReopenLog(ctx, &shimv1.ReopenLogRequest{})
	return wrap(err)
}
