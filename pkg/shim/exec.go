package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/identifiers"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// execProcess is a process added to the running container by Exec. Its
// stdio is its own (pipes or a pty of its own); its output reaches
// attachers only: the container's log is the init's.
type execProcess struct {
	id       string
	specPath string
	terminal bool
	io       *containerIO // made at Exec so that Attach before Start misses nothing

	mu        sync.Mutex
	status    shimv1.Status
	starting  bool
	pid       int
	startedAt time.Time
	exit      *Exit
	exited    chan struct{} // closed once the exit is recorded and output drained
}

func (s *service) getExec(id string) (*execProcess, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.execs[id]
	if p == nil {
		return nil, fmt.Errorf("exec %s: %w", id, errdefs.ErrNotFound)
	}
	return p, nil
}

func (s *service) Exec(ctx context.Context, req *shimv1.ExecRequest) (*shimv1.ExecResponse, error) {
	return &shimv1.ExecResponse{}, errdefs.ToGRPC(s.addExec(req))
}

func (s *service) addExec(req *shimv1.ExecRequest) error {
	if !identifiers.Valid(req.ExecId) {
		return fmt.Errorf("exec id %q: %w", req.ExecId, errdefs.ErrInvalidArgument)
	}
	var spec struct {
		Args     []string `json:"args"`
		Terminal bool     `json:"terminal"`
	}
	if err := json.Unmarshal(req.Spec, &spec); err != nil {
		return fmt.Errorf("exec %s: process spec: %v: %w", req.ExecId, err, errdefs.ErrInvalidArgument)
	}
	if len(spec.Args) == 0 {
		return fmt.Errorf("exec %s: process spec has no args: %w", req.ExecId, errdefs.ErrInvalidArgument)
	}
	if spec.Terminal != req.Terminal {
		return fmt.Errorf("exec %s: terminal=%v but the process spec says %v: %w",
			req.ExecId, req.Terminal, spec.Terminal, errdefs.ErrInvalidArgument)
	}
	p := &execProcess{
		id:       req.ExecId,
		specPath: filepath.Join(s.cfg.StateDir, "exec-"+req.ExecId+".json"),
		terminal: req.Terminal,
		exited:   make(chan struct{}),
	}
	if req.Terminal {
		// The pty master arrives from the runtime at Start.
		p.io = &containerIO{attached: map[*attacher]struct{}{}, done: make(chan struct{}), terminal: true}
	} else {
		cio, err := newContainerIO(req.Stdin, nil)
		if err != nil {
			return fmt.Errorf("exec %s: %w", req.ExecId, err)
		}
		p.io = cio
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) error {
		if !p.terminal {
			p.io.closeAll()
		}
		return err
	}
	if s.status != shimv1.Status_STATUS_RUNNING {
		return fail(fmt.Errorf("cannot exec in a container that is %s: %w", statusName(s.status), errdefs.ErrFailedPrecondition))
	}
	if s.execs[req.ExecId] != nil {
		return fail(fmt.Errorf("exec %s: %w", req.ExecId, errdefs.ErrAlreadyExists))
	}
	if err := os.WriteFile(p.specPath, req.Spec, 0o600); err != nil {
		return fail(fmt.Errorf("exec %s: write process spec: %w", req.ExecId, err))
	}
	p.status = shimv1.Status_STATUS_CREATED
	s.execs[req.ExecId] = p
	return nil
}

// startExec runs `runtime exec --detach`: the runtime exits once the
// process runs, and the process, orphaned, becomes the shim's child.
func (s *service) startExec(id string) (*shimv1.StartResponse, error) {
	p, err := s.getExec(id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.status != shimv1.Status_STATUS_CREATED || p.starting {
		st := p.status
		p.mu.Unlock()
		return nil, fmt.Errorf("exec %s is %s, not created: %w", id, statusName(st), errdefs.ErrFailedPrecondition)
	}
	p.starting = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.starting = false
		p.mu.Unlock()
	}()

	pidFile := filepath.Join(s.cfg.StateDir, "exec-"+id+".pid")
	defer os.Remove(pidFile)
	args := []string{"exec", "--detach", "--process", p.specPath, "--pid-file", pidFile}
	fail := func(err error) (*shimv1.StartResponse, error) {
		p.mu.Lock()
		p.status = shimv1.Status_STATUS_STOPPED
		p.exit = &Exit{Status: 255, At: time.Now()}
		p.mu.Unlock()
		if !p.terminal {
			p.io.closeAll()
		}
		p.io.finish()
		close(p.exited)
		return nil, fmt.Errorf("exec %s: %w", id, err)
	}
	if p.terminal {
		cs, err := newConsoleSocket(s.cfg.StateDir)
		if err != nil {
			return fail(err)
		}
		defer cs.Close()
		args = append(args, "--console-socket", cs.path, s.cfg.ID)
		if err := s.rt.run(nil, args...); err != nil {
			return fail(err)
		}
		master, err := cs.Master(5 * time.Second)
		if err != nil {
			return fail(err)
		}
		p.io.stdinW, p.io.readers[Stdout] = master, master
	} else {
		args = append(args, s.cfg.ID)
		if err := s.rt.run(&stdio{in: p.io.stdin, out: p.io.stdout, err: p.io.stderr}, args...); err != nil {
			return fail(err)
		}
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		return fail(err)
	}
	failpoint.Hit("shim-exec-started")
	p.io.start()
	p.mu.Lock()
	p.pid, p.status, p.startedAt = pid, shimv1.Status_STATUS_RUNNING, time.Now()
	p.mu.Unlock()
	go s.waitExec(p)
	log.Printf("exec %s started in %s, pid %d", id, s.cfg.ID, pid)
	return &shimv1.StartResponse{Pid: uint32(pid)}, nil
}

func (s *service) waitExec(p *execProcess) {
	e := <-s.reaper.Wait(p.pid)
	p.mu.Lock()
	p.exit, p.status = &e, shimv1.Status_STATUS_STOPPED
	p.mu.Unlock()
	p.io.dropStdin()
	p.io.drain(drainGrace)
	close(p.exited)
}

func (p *execProcess) state(containerID, bundle string) *shimv1.StateResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &shimv1.StateResponse{Id: containerID, Bundle: bundle, ExecId: p.id, Pid: uint32(p.pid), Status: p.status}
	if !p.startedAt.IsZero() {
		r.StartedAt = p.startedAt.UnixNano()
	}
	if p.exit != nil {
		r.ExitStatus, r.ExitedAt = p.exit.Status, p.exit.At.UnixNano()
	}
	return r
}

func (p *execProcess) wait(ctx context.Context) (*shimv1.WaitResponse, error) {
	// An exec not yet started may be waited for: Start may follow.
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return &shimv1.WaitResponse{ExitStatus: p.exit.Status, ExitedAt: p.exit.At.UnixNano()}, nil
}

// kill signals the exec's process itself: `runtime kill` addresses only
// the init. The pid cannot be reused meanwhile: the shim reaps it.
func (p *execProcess) kill(sig uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.status {
	case shimv1.Status_STATUS_CREATED:
		return fmt.Errorf("exec %s is not started: %w", p.id, errdefs.ErrFailedPrecondition)
	case shimv1.Status_STATUS_STOPPED:
		return errFinished
	}
	if sig == 0 {
		return fmt.Errorf("signal 0: %w", errdefs.ErrInvalidArgument)
	}
	if err := unix.Kill(p.pid, unix.Signal(sig)); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errFinished
		}
		return fmt.Errorf("kill exec %s: %w", p.id, err)
	}
	return nil
}

func (s *service) deleteExec(ctx context.Context, id string, force bool) (*shimv1.DeleteResponse, error) {
	p, err := s.getExec(id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	st := p.status
	p.mu.Unlock()
	switch st {
	case shimv1.Status_STATUS_CREATED:
		// Never started: nothing runs, release its pipes.
		if !p.terminal {
			p.io.closeAll()
		}
		p.io.finish()
		p.mu.Lock()
		p.exit, p.status = &Exit{Status: 0, At: time.Now()}, shimv1.Status_STATUS_STOPPED
		p.mu.Unlock()
		close(p.exited)
	case shimv1.Status_STATUS_RUNNING:
		if !force {
			return nil, fmt.Errorf("exec %s is running: %w", id, errdefs.ErrFailedPrecondition)
		}
		if err := p.kill(9); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	delete(s.execs, id)
	s.mu.Unlock()
	os.Remove(p.specPath)
	p.mu.Lock()
	defer p.mu.Unlock()
	return &shimv1.DeleteResponse{Pid: uint32(p.pid), ExitStatus: p.exit.Status, ExitedAt: p.exit.At.UnixNano()}, nil
}

func (s *service) ListExecs(ctx context.Context, req *shimv1.ListExecsRequest) (*shimv1.ListExecsResponse, error) {
	s.mu.Lock()
	execs := make([]*execProcess, 0, len(s.execs))
	for _, p := range s.execs {
		execs = append(execs, p)
	}
	s.mu.Unlock()
	resp := &shimv1.ListExecsResponse{}
	for _, p := range execs {
		resp.Execs = append(resp.Execs, p.state(s.cfg.ID, s.cfg.Bundle))
	}
	return resp, nil
}
