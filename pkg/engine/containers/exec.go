package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Exec is a process added to a running container (docker exec). Its
// configuration is kept by the engine; the process is made at start.
type Exec struct {
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest
	DetachKeys  []byte
	user        *specs.User // -u resolved at create; nil: the container's

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int
	exitCode *int
	done     chan struct{} // closed once the exit is recorded
}

// ExecState is a copy of an exec's state.
type ExecState struct {
	Running  bool
	Pid      int
	ExitCode *int
}

// State returns the exec's current state.
func (e *Exec) State() ExecState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return ExecState{Running: e.running, Pid: e.pid, ExitCode: e.exitCode}
}

type execStore struct {
	mu sync.Mutex
	m  map[string]*Exec
}

func (s *execStore) add(e *Exec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*Exec{}
	}
	s.m[e.ID] = e
}

func (s *execStore) drop(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.m, id)
	}
}

// GetExec finds an exec by its ID.
func (d *Daemon) GetExec(id string) (*Exec, error) {
	d.execs.mu.Lock()
	defer d.execs.mu.Unlock()
	if e, ok := d.execs.m[id]; ok {
		return e, nil
	}
	return nil, &msgError{msg: "No such exec instance: " + id, class: errdefs.ErrNotFound}
}

// ExecCreate records an exec in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, ref string, req container.ExecCreateRequest) (*Exec, error) {
	c, err := d.running(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	paused := c.State.Paused
	c.mu.Unlock()
	if paused {
		return nil, &msgError{msg: fmt.Sprintf("container %s is paused, unpause the container before exec", c.ID), class: errdefs.ErrConflict}
	}
	if len(req.Cmd) == 0 {
		return nil, &msgError{msg: "No exec command specified", class: errdefs.ErrInvalidArgument}
	}
	if req.Privileged {
		return nil, &msgError{msg: "privileged exec is not supported", class: errdefs.ErrNotImplemented}
	}
	var user *specs.User
	if req.User != "" {
		// Resolved now for a 400 at create; dockerd fails only at start.
		u, err := d.execUser(ctx, c, req.User)
		if err != nil {
			return nil, err
		}
		user = &u
	}
	keys, err := ParseDetachKeys(req.DetachKeys)
	if err != nil {
		return nil, err
	}
	e := &Exec{ID: NewID(), ContainerID: c.ID, Config: req, DetachKeys: keys, user: user, done: make(chan struct{})}
	d.execs.add(e)
	c.mu.Lock()
	c.execs = append(c.execs, e.ID)
	c.mu.Unlock()
	d.emit(c, events.Action(string(events.ActionExecCreate)+": "+strings.Join(req.Cmd, " ")), map[string]string{"execID": e.ID})
	return e, nil
}

// processSpec is the exec's OCI process: the container's process (its
// capabilities, rlimits, apparmor/selinux labels, no_new_privileges) with
// the exec's command, env added to the container's, user and cwd when given.
func (d *Daemon) processSpec(ctx context.Context, e *Exec) ([]byte, error) {
	raw, err := d.sup.ContainerSpec(ctx, e.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("spec of %s: %w", e.ContainerID, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", e.ContainerID, err)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("spec of %s has no process: %w", e.ContainerID, errdefs.ErrFailedPrecondition)
	}
	p := *spec.Process
	p.Args = e.Config.Cmd
	p.Terminal = e.Config.Tty
	p.ConsoleSize = nil
	if cs := e.Config.ConsoleSize; cs != nil && cs[0] > 0 && cs[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	p.Env = oci.MergeEnv(p.Env, e.Config.Env)
	if e.user != nil {
		p.User = *e.user
	}
	if e.Config.WorkingDir != "" {
		p.Cwd = e.Config.WorkingDir
	}
	return json.Marshal(&p)
}

// PrepareExecStart makes and subscribes to the exec's process, and returns
// the function that starts it and streams it (stdin from in when
// AttachStdin) until it exits. A detached exec gets out == nil: the
// function starts it and returns.
func (d *Daemon) PrepareExecStart(ctx context.Context, id string, detach bool) (func(in io.Reader, stdout, stderr io.Writer) error, *Exec, error) {
	e, err := d.GetExec(id)
	if err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return nil, nil, &msgError{msg: fmt.Sprintf("Error: Exec command %s is already running", id), class: errdefs.ErrConflict}
	}
	e.started = true
	e.mu.Unlock()
	c, err := d.running(e.ContainerID)
	if err != nil {
		return nil, nil, err
	}
	spec, err := d.processSpec(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	cfg := e.Config
	if err := d.sup.ExecProcess(ctx, c.ID, e.ID, spec, cfg.AttachStdin && !detach, cfg.Tty); err != nil {
		return nil, nil, fmt.Errorf("exec in %s: %w", c.ID, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var out Output
	if !detach && (cfg.AttachStdout || cfg.AttachStderr) {
		if out, err = d.sup.AttachProcess(ctx, c.ID, e.ID, cfg.AttachStdout, cfg.AttachStderr); err != nil {
			cancel()
			_ = d.sup.DeleteProcess(context.WithoutCancel(ctx), c.ID, e.ID)
			return nil, nil, fmt.Errorf("attach exec %s: %w", e.ID, err)
		}
	}
	return func(in io.Reader, stdout, stderr io.Writer) error {
		defer cancel()
		pid, err := d.sup.StartProcess(ctx, c.ID, e.ID)
		if err != nil {
			_ = d.sup.DeleteProcess(context.WithoutCancel(ctx), c.ID, e.ID)
			code := 126
			if strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "no such file") {
				code = 127
			}
			e.mu.Lock()
			e.exitCode = &code
			e.mu.Unlock()
			close(e.done)
			return fmt.Errorf("start exec %s: %w", e.ID, err)
		}
		e.mu.Lock()
		e.running, e.pid = true, int(pid)
		e.mu.Unlock()
		d.emit(c, events.Action(string(events.ActionExecStart)+": "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": e.ID})
		d.watchExec(c, e)
		if detach {
			return nil
		}
		if in != nil && cfg.AttachStdin {
			var keys []byte
			if cfg.Tty {
				keys = e.DetachKeys
			}
			// A tty's stdin outlives the client's end of it, as in
			// dockerd (see PrepareAttach).
			go d.pipeStdin(ctx, c.ID, e.ID, in, !cfg.Tty, keys, func() {
				d.emit(c, events.ActionExecDetach, map[string]string{"execID": e.ID})
				cancel()
			})
		}
		if out != nil {
			for {
				m, err := out.Recv()
				if err != nil || ctx.Err() != nil {
					break
				}
				w := stdout
				if m.GetStream() == supervisorv1.AttachTaskResponse_STDERR {
					w = stderr
				}
				if _, err := w.Write(m.GetData()); err != nil {
					return nil
				}
			}
		}
		// Clients inspect the exit code as soon as the stream ends: have it.
		select {
		case <-e.done:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		return nil
	}, e, nil
}

// watchExec records the exec's exit and deletes its process.
func (d *Daemon) watchExec(c *Container, e *Exec) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		code := 255
		for {
			resp, err := d.sup.WaitProcess(d.ctx, c.ID, e.ID)
			if d.ctx.Err() != nil {
				return
			}
			if err != nil && errdefs.IsUnavailable(err) {
				time.Sleep(time.Second)
				continue
			}
			if err == nil {
				code = int(resp.GetExitStatus())
			} else if !errors.Is(err, context.Canceled) {
				d.log.Warn("wait exec", "id", c.ID, "exec", e.ID, "err", err)
			}
			break
		}
		if err := d.sup.DeleteProcess(d.ctx, c.ID, e.ID); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("delete exec", "id", c.ID, "exec", e.ID, "err", err)
		}
		e.mu.Lock()
		e.running = false
		e.exitCode = &code
		e.mu.Unlock()
		close(e.done)
		d.emit(c, events.ActionExecDie, map[string]string{"execID": e.ID, "exitCode": strconv.Itoa(code)})
	}()
}

// ExecResize sets the size of an exec's pty.
func (d *Daemon) ExecResize(ctx context.Context, id string, width, height uint32) error {
	e, err := d.GetExec(id)
	if err != nil {
		return err
	}
	if !e.State().Running {
		return &msgError{msg: fmt.Sprintf("exec %s is not running", id), class: errdefs.ErrConflict}
	}
	return d.sup.ResizePty(ctx, e.ContainerID, e.ID, width, height)
}
