// Package shim is the per-container shim: it runs the OCI runtime for one
// container, holds the container's stdio, writes its log, reaps it as a
// child subreaper, persists its exit status and serves the shim API
// (proto/berth/shim/v1) on its own unix socket.
package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/shim/record"
	"github.com/berthd/berth/pkg/trace"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// drainGrace is how long the shim waits, after the container's init
// exited, for its output pipes to reach EOF.
const drainGrace = 2 * time.Second

// Config is what the shim is started with.
type Config struct {
	ID          string
	Bundle      string
	Runtime     string
	RuntimeRoot string
	RuntimeArgs []string
	// RuntimeStandby: Runtime is berth's: the shim runs its commands of
	// the container's life in its own process (inProcess) or, where it
	// cannot, starts it ahead of its next command (package standby).
	RuntimeStandby bool
	Socket         string
	StateDir       string
}

// service implements shimv1.ShimService for one container.
type service struct {
	cfg        Config
	rt         *runtimeCLI
	reaper     *Reaper
	onShutdown func()

	mu        sync.Mutex
	status    shimv1.Status
	creating  bool
	deleted   bool
	pid       int
	startedAt time.Time
	exit      *Exit
	oomKilled bool
	oomFile   string       // the init's memory cgroup OOM counter
	oomBase   uint64       // its value at create
	trace     *trace.Trace // the create's trace (nil: none); gets the reap span
	io        *containerIO
	exited    chan struct{} // closed once the exit is recorded and output drained
	execs     map[string]*execProcess
}

func newService(cfg Config, reaper *Reaper, onShutdown func()) *service {
	s := &service{}
	s.init(cfg, reaper, onShutdown)
	return s
}

// init sets s up for cfg's container. A spare's service exists, and is
// served, before it is set up (earlyAPI); its calls wait until then.
func (s *service) init(cfg Config, reaper *Reaper, onShutdown func()) {
	mask := DefaultMasks(cfg.Runtime)
	var inproc *inProcess
	if cfg.RuntimeStandby {
		inproc = newInProcess(cfg.Runtime, cfg.RuntimeRoot, cfg.RuntimeArgs, mask)
	}
	if inproc == nil {
		dropInitAhead() // a spare's, started for another runtime
	}
	s.cfg = cfg
	s.reaper = reaper
	s.rt = &runtimeCLI{
		binary:  cfg.Runtime,
		root:    cfg.RuntimeRoot,
		args:    cfg.RuntimeArgs,
		log:     filepath.Join(cfg.StateDir, record.RuntimeLogFile),
		reaper:  reaper,
		mask:    mask,
		standby: cfg.RuntimeStandby,
		inproc:  inproc,
	}
	s.onShutdown = onShutdown
	s.exited = make(chan struct{})
	s.execs = map[string]*execProcess{}
}

func (s *service) Create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error) {
	resp, err := s.create(ctx, req)
	return resp, errdefs.ToGRPC(err)
}

func (s *service) create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error) {
	s.mu.Lock()
	if s.creating || s.status != shimv1.Status_STATUS_UNKNOWN || s.deleted {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s: %w", s.cfg.ID, errdefs.ErrAlreadyExists)
	}
	s.creating = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.creating = false
		s.mu.Unlock()
	}()
	if t := trace.FromContext(ctx); t != nil && !handOver.got.IsZero() && !handOver.ready.IsZero() {
		t.Record("spare: set-up after hand-over", handOver.got, handOver.ready)
	}
	// The runtime places init in its cgroups some 10 ms from now; start the
	// kernel's wait for that here rather than there (package cgroupprime).
	cgroupprime.Start()

	var lw *LogWriter
	if req.LogFormat != shimv1.LogFormat_LOG_FORMAT_NONE {
		if req.LogPath == "" || !filepath.IsAbs(req.LogPath) {
			return nil, fmt.Errorf("log path %q must be absolute: %w", req.LogPath, errdefs.ErrInvalidArgument)
		}
		f, err := OpenRotatingFile(req.LogPath, Rotation{MaxSize: req.LogMaxSize, MaxFiles: int(req.LogMaxFiles), Compress: req.LogCompress})
		if err != nil {
			return nil, err
		}
		lw = NewLogWriter(req.LogFormat, f)
		if err := lw.SetAttrs(req.LogAttrs); err != nil {
			lw.Close()
			return nil, err
		}
	}
	pidFile := filepath.Join(s.cfg.StateDir, record.InitPidFile)
	args := []string{"create", "--bundle", s.cfg.Bundle, "--pid-file", pidFile}
	var cio *containerIO
	fail := func(err error) (*shimv1.CreateResponse, error) {
		if cio != nil {
			cio.closeAll()
		} else if lw != nil {
			lw.Close()
		}
		// Leave nothing half-made behind.
		_ = s.rt.run(nil, "delete", "--force", s.cfg.ID)
		return nil, err
	}
	if req.Terminal {
		cs, err := newConsoleSocket(s.cfg.StateDir)
		if err != nil {
			if lw != nil {
				lw.Close()
			}
			return nil, err
		}
		defer cs.Close()
		args = append(args, "--console-socket", cs.path, s.cfg.ID)
		if err := s.rt.runTraced(trace.FromContext(ctx), nil, args...); err != nil {
			return fail(err)
		}
		master, err := cs.Master(5 * time.Second)
		if err != nil {
			return fail(err)
		}
		cio = newTerminalIO(master, lw)
	} else {
		var err error
		if cio, err = newContainerIO(req.Stdin, lw); err != nil {
			if lw != nil {
				lw.Close()
			}
			return nil, err
		}
		args = append(args, s.cfg.ID)
		if err := s.rt.runTraced(trace.FromContext(ctx), &stdio{in: cio.stdin, out: cio.stdout, err: cio.stderr}, args...); err != nil {
			return fail(err)
		}
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		return fail(err)
	}
	failpoint.Hit("shim-runtime-created")
	cio.start()
	oomFile := oomCounterFile(pid)
	oomBase := oomKills(oomFile)
	s.mu.Lock()
	s.pid, s.io, s.status = pid, cio, shimv1.Status_STATUS_CREATED
	s.oomFile, s.oomBase = oomFile, oomBase
	s.trace = trace.FromContext(ctx)
	s.mu.Unlock()
	go s.waitInit(pid)
	log.Printf("created container %s, init pid %d", s.cfg.ID, pid)
	return &shimv1.CreateResponse{Pid: uint32(pid)}, nil
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad content %q", path, b)
	}
	return pid, nil
}

// waitInit records the exit of the container's init, once its output is
// drained and logged, and then releases Wait and Attach callers.
func (s *service) waitInit(pid int) {
	e := <-s.reaper.Wait(pid)
	s.mu.Lock()
	// The cgroup still exists until `runtime delete`.
	s.oomKilled = e.Status == 137 && oomKills(s.oomFile) > s.oomBase
	s.exit = &e
	s.status = shimv1.Status_STATUS_STOPPED
	cio := s.io
	s.mu.Unlock()
	log.Printf("container %s init %d exited with status %d", s.cfg.ID, pid, e.Status)

	cio.dropStdin()
	cio.drain(drainGrace)
	s.mu.Lock()
	rec := record.Exit{Pid: uint32(pid), ExitStatus: e.Status, ExitedAt: e.At.UTC(), OOMKilled: s.oomKilled}
	s.mu.Unlock()
	if err := record.WriteExit(s.cfg.StateDir, rec); err != nil {
		log.Printf("%v", err)
	}
	s.mu.Lock()
	recordReap(s.trace, e.At)
	s.mu.Unlock()
	close(s.exited)
}

func (s *service) Start(ctx context.Context, req *shimv1.StartRequest) (*shimv1.StartResponse, error) {
	if req.ExecId != "" {
		resp, err := s.startExec(req.ExecId)
		return resp, errdefs.ToGRPC(err)
	}
	s.mu.Lock()
	status, pid := s.status, s.pid
	s.mu.Unlock()
	if status != shimv1.Status_STATUS_CREATED {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s is %s, not created: %w",
			s.cfg.ID, statusName(status), errdefs.ErrFailedPrecondition))
	}
	if err := s.rt.runTraced(trace.FromContext(ctx), nil, "start", s.cfg.ID); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	failpoint.Hit("shim-runtime-started")
	s.mu.Lock()
	s.startedAt = time.Now()
	if s.status == shimv1.Status_STATUS_CREATED {
		s.status = shimv1.Status_STATUS_RUNNING
	}
	s.mu.Unlock()
	return &shimv1.StartResponse{Pid: uint32(pid)}, nil
}

func statusName(st shimv1.Status) string {
	if st == shimv1.Status_STATUS_UNKNOWN {
		return "not created"
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "STATUS_"))
}

func (s *service) State(ctx context.Context, req *shimv1.StateRequest) (*shimv1.StateResponse, error) {
	if req.ExecId != "" {
		p, err := s.getExec(req.ExecId)
		if err != nil {
			return nil, errdefs.ToGRPC(err)
		}
		return p.state(s.cfg.ID, s.cfg.Bundle), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &shimv1.StateResponse{
		Id:     s.cfg.ID,
		Bundle: s.cfg.Bundle,
		Pid:    uint32(s.pid),
		Status: s.status,
	}
	if !s.startedAt.IsZero() {
		resp.StartedAt = s.startedAt.UnixNano()
	}
	if s.exit != nil {
		resp.ExitStatus = s.exit.Status
		resp.ExitedAt = s.exit.At.UnixNano()
		resp.OomKilled = s.oomKilled
	}
	return resp, nil
}

func (s *service) Wait(ctx context.Context, req *shimv1.WaitRequest) (*shimv1.WaitResponse, error) {
	if req.ExecId != "" {
		p, err := s.getExec(req.ExecId)
		if err != nil {
			return nil, errdefs.ToGRPC(err)
		}
		resp, err := p.wait(ctx)
		return resp, errdefs.ToGRPC(err)
	}
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	if status == shimv1.Status_STATUS_UNKNOWN {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s not created: %w", s.cfg.ID, errdefs.ErrNotFound))
	}
	select {
	case <-s.exited:
	case <-ctx.Done():
		return nil, errdefs.ToGRPC(ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &shimv1.WaitResponse{ExitStatus: s.exit.Status, ExitedAt: s.exit.At.UnixNano(), OomKilled: s.oomKilled}, nil
}

func (s *service) Kill(ctx context.Context, req *shimv1.KillRequest) (*shimv1.KillResponse, error) {
	if req.ExecId != "" {
		p, err := s.getExec(req.ExecId)
		if err == nil {
			err = p.kill(req.Signal)
		}
		if err != nil {
			return nil, errdefs.ToGRPC(err)
		}
		return &shimv1.KillResponse{}, nil
	}
	if err := s.kill(ctx, req.Signal, req.All); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.KillResponse{}, nil
}

var errFinished = fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)

func (s *service) kill(ctx context.Context, sig uint32, all bool) error {
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	switch status {
	case shimv1.Status_STATUS_UNKNOWN:
		return fmt.Errorf("container %s not created: %w", s.cfg.ID, errdefs.ErrNotFound)
	case shimv1.Status_STATUS_STOPPED:
		return errFinished
	}
	if sig == 0 {
		return fmt.Errorf("signal 0: %w", errdefs.ErrInvalidArgument)
	}
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, s.cfg.ID, strconv.FormatUint(uint64(sig), 10))
	if err := s.rt.run(nil, args...); err != nil {
		s.mu.Lock()
		stopped := s.status == shimv1.Status_STATUS_STOPPED
		s.mu.Unlock()
		if stopped || strings.Contains(err.Error(), "not running") {
			return errFinished
		}
		return err
	}
	return nil
}

func (s *service) Delete(ctx context.Context, req *shimv1.DeleteRequest) (*shimv1.DeleteResponse, error) {
	if req.ExecId != "" {
		resp, err := s.deleteExec(ctx, req.ExecId, req.Force)
		return resp, errdefs.ToGRPC(err)
	}
	resp, err := s.delete(ctx, req.Force)
	return resp, errdefs.ToGRPC(err)
}

func (s *service) delete(ctx context.Context, force bool) (*shimv1.DeleteResponse, error) {
	s.mu.Lock()
	status, deleted := s.status, s.deleted
	s.mu.Unlock()
	if status == shimv1.Status_STATUS_UNKNOWN || deleted {
		return nil, fmt.Errorf("container %s: %w", s.cfg.ID, errdefs.ErrNotFound)
	}
	if status != shimv1.Status_STATUS_STOPPED {
		if !force {
			return nil, fmt.Errorf("container is not stopped: %w", errdefs.ErrFailedPrecondition)
		}
		if err := s.kill(ctx, 9, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
		if status == shimv1.Status_STATUS_PAUSED {
			// Frozen processes die only once thawed.
			_ = s.rt.run(nil, "resume", s.cfg.ID)
		}
	}
	select {
	case <-s.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	if err := s.rt.run(nil, append(args, s.cfg.ID)...); err != nil {
		return nil, err
	}
	s.rt.dropSpare(nil) // no command comes after the delete
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
	log.Printf("deleted container %s", s.cfg.ID)
	return &shimv1.DeleteResponse{
		Pid:        uint32(s.pid),
		ExitStatus: s.exit.Status,
		ExitedAt:   s.exit.At.UnixNano(),
	}, nil
}

// ioOf returns the stdio of the init ("") or of an exec.
func (s *service) ioOf(execID string) (*containerIO, error) {
	if execID != "" {
		p, err := s.getExec(execID)
		if err != nil {
			return nil, err
		}
		return p.io, nil
	}
	s.mu.Lock()
	cio := s.io
	s.mu.Unlock()
	if cio == nil {
		return nil, fmt.Errorf("container %s not created: %w", s.cfg.ID, errdefs.ErrFailedPrecondition)
	}
	return cio, nil
}

func (s *service) Attach(ctx context.Context, req *shimv1.AttachRequest, stream shimv1.Shim_AttachServer) error {
	cio, err := s.ioOf(req.ExecId)
	if err != nil {
		return errdefs.ToGRPC(err)
	}
	stdout, stderr := req.Stdout, req.Stderr
	if !stdout && !stderr {
		stdout, stderr = true, true
	}
	a := cio.attach(stdout, stderr)
	if a == nil {
		return nil
	}
	defer cio.detach(a)
	// An empty first chunk tells the client it is attached: nothing
	// written from now on is missed.
	if err := stream.Send(&shimv1.AttachChunk{}); err != nil {
		return err
	}
	for {
		select {
		case c, ok := <-a.ch:
			if !ok {
				if a.dropped {
					return errdefs.ToGRPC(fmt.Errorf("attacher fell too far behind: %w", errdefs.ErrUnavailable))
				}
				return nil
			}
			msg := &shimv1.AttachChunk{Stream: shimv1.AttachChunk_STDOUT, Data: c.data}
			if c.stream == Stderr {
				msg.Stream = shimv1.AttachChunk_STDERR
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		case <-ctx.Done():
			return errdefs.ToGRPC(ctx.Err())
		}
	}
}

func (s *service) Shutdown(ctx context.Context, req *shimv1.ShutdownRequest) (*shimv1.ShutdownResponse, error) {
	s.mu.Lock()
	ok := s.deleted || (s.status == shimv1.Status_STATUS_UNKNOWN && !s.creating)
	s.mu.Unlock()
	if !ok {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s is not deleted: %w", s.cfg.ID, errdefs.ErrFailedPrecondition))
	}
	log.Printf("shutdown")
	s.rt.dropSpare(nil)
	go s.onShutdown()
	return &shimv1.ShutdownResponse{}, nil
}

func (s *service) WriteStdin(ctx context.Context, stream shimv1.Shim_WriteStdinServer) (*shimv1.WriteStdinResponse, error) {
	err := s.writeStdin(stream)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.WriteStdinResponse{}, nil
}

func (s *service) writeStdin(stream shimv1.Shim_WriteStdinServer) error {
	// The first chunk names the process.
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	cio, err := s.ioOf(first.ExecId)
	if err != nil {
		return err
	}
	for m := first; ; m = nil {
		if m == nil {
			m, err = stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if len(m.Data) > 0 {
			if err := cio.writeStdin(m.Data); err != nil {
				if errors.Is(err, errNoStdin) {
					err = fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
				}
				return fmt.Errorf("write stdin: %w", err)
			}
		}
		if m.Close {
			cio.closeStdin()
		}
	}
}

func (s *service) ResizePty(ctx context.Context, req *shimv1.ResizePtyRequest) (*shimv1.ResizePtyResponse, error) {
	cio, err := s.ioOf(req.ExecId)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	if req.Width > 0xffff || req.Height > 0xffff {
		return nil, errdefs.ToGRPC(fmt.Errorf("window size %dx%d: %w", req.Width, req.Height, errdefs.ErrInvalidArgument))
	}
	if err := cio.resize(uint16(req.Width), uint16(req.Height)); err != nil {
		return nil, errdefs.ToGRPC(fmt.Errorf("resize pty: %v: %w", err, errdefs.ErrFailedPrecondition))
	}
	return &shimv1.ResizePtyResponse{}, nil
}

func (s *service) Pause(ctx context.Context, req *shimv1.PauseRequest) (*shimv1.PauseResponse, error) {
	if err := s.freeze("pause", shimv1.Status_STATUS_RUNNING, shimv1.Status_STATUS_PAUSED); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.PauseResponse{}, nil
}

func (s *service) Resume(ctx context.Context, req *shimv1.ResumeRequest) (*shimv1.ResumeResponse, error) {
	if err := s.freeze("resume", shimv1.Status_STATUS_PAUSED, shimv1.Status_STATUS_RUNNING); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.ResumeResponse{}, nil
}

// freeze runs `runtime pause|resume` when the status is from, and sets to.
func (s *service) freeze(verb string, from, to shimv1.Status) error {
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	if status != from {
		return fmt.Errorf("cannot %s a container that is %s: %w", verb, statusName(status), errdefs.ErrFailedPrecondition)
	}
	if err := s.rt.run(nil, verb, s.cfg.ID); err != nil {
		return err
	}
	s.mu.Lock()
	if s.status == from {
		s.status = to
	}
	s.mu.Unlock()
	return nil
}
