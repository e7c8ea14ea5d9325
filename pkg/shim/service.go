// Package shim is the per-container shim: it runs the OCI runtime for one
// container, holds the container's stdio, writes its log, reaps it as a
// child subreaper, persists its exit status and serves the shim API
// (proto/berth/shim/v1) on its own unix socket.
package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// drainGrace is how long the shim waits, after the container's init
// exited, for its output pipes to reach EOF.
const drainGrace = 2 * time.Second

// Files in the state directory.
const (
	InitPidFile    = "init.pid"
	RuntimeLogFile = "runtime.log"
	ExitFile       = "exit.json"
	ShimLogFile    = "shim.log"
	ShimPidFile    = "shim.pid"
)

// ExitRecord is the content of StateDir/exit.json, written atomically once
// the container's init has exited and its output is drained.
type ExitRecord struct {
	Pid        uint32 `json:"pid"`
	ExitStatus uint32 `json:"exit_status"`
	// RFC 3339 with nanoseconds.
	ExitedAt time.Time `json:"exited_at"`
}

// Config is what the shim is started with.
type Config struct {
	ID          string
	Bundle      string
	Runtime     string
	RuntimeRoot string
	RuntimeArgs []string
	Socket      string
	StateDir    string
}

// service implements shimv1.ShimServer for one container.
type service struct {
	shimv1.UnimplementedShimServer
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
	io        *containerIO
	exited    chan struct{} // closed once the exit is recorded and output drained
}

func newService(cfg Config, reaper *Reaper, onShutdown func()) *service {
	return &service{
		cfg:    cfg,
		reaper: reaper,
		rt: &runtimeCLI{
			binary: cfg.Runtime,
			root:   cfg.RuntimeRoot,
			args:   cfg.RuntimeArgs,
			log:    filepath.Join(cfg.StateDir, RuntimeLogFile),
			reaper: reaper,
		},
		onShutdown: onShutdown,
		exited:     make(chan struct{}),
	}
}

func (s *service) Create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error) {
	resp, err := s.create(ctx, req)
	return resp, errdefs.ToGRPC(err)
}

func (s *service) create(ctx context.Context, req *shimv1.CreateRequest) (*shimv1.CreateResponse, error) {
	if req.Terminal {
		return nil, fmt.Errorf("terminal: %w", errdefs.ErrNotImplemented)
	}
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

	var lw *LogWriter
	if req.LogFormat != shimv1.LogFormat_LOG_FORMAT_NONE {
		if req.LogPath == "" || !filepath.IsAbs(req.LogPath) {
			return nil, fmt.Errorf("log path %q must be absolute: %w", req.LogPath, errdefs.ErrInvalidArgument)
		}
		f, err := OpenRotatingFile(req.LogPath, req.LogMaxSize, int(req.LogMaxFiles))
		if err != nil {
			return nil, err
		}
		lw = NewLogWriter(req.LogFormat, f)
	}
	cio, err := newContainerIO(req.Stdin, lw)
	if err != nil {
		return nil, err
	}
	pidFile := filepath.Join(s.cfg.StateDir, InitPidFile)
	err = s.rt.run(ctx, &stdio{in: cio.stdin, out: cio.stdout, err: cio.stderr},
		"create", "--bundle", s.cfg.Bundle, "--pid-file", pidFile, s.cfg.ID)
	if err != nil {
		cio.closeAll()
		// Leave nothing half-made behind.
		_ = s.rt.run(context.Background(), nil, "delete", "--force", s.cfg.ID)
		return nil, err
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		cio.closeAll()
		_ = s.rt.run(context.Background(), nil, "delete", "--force", s.cfg.ID)
		return nil, err
	}
	cio.start()
	s.mu.Lock()
	s.pid, s.io, s.status = pid, cio, shimv1.Status_STATUS_CREATED
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
	s.exit = &e
	s.status = shimv1.Status_STATUS_STOPPED
	cio := s.io
	s.mu.Unlock()
	log.Printf("container %s init %d exited with status %d", s.cfg.ID, pid, e.Status)

	cio.closeStdin()
	cio.drain(drainGrace)
	rec := ExitRecord{Pid: uint32(pid), ExitStatus: e.Status, ExitedAt: e.At.UTC()}
	if err := writeFileAtomic(filepath.Join(s.cfg.StateDir, ExitFile), rec); err != nil {
		log.Printf("persist exit status: %v", err)
	}
	close(s.exited)
}

// writeFileAtomic writes v as JSON to path via a synced temp file and rename.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *service) Start(ctx context.Context, req *shimv1.StartRequest) (*shimv1.StartResponse, error) {
	s.mu.Lock()
	status, pid := s.status, s.pid
	s.mu.Unlock()
	if status != shimv1.Status_STATUS_CREATED {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s is %s, not created: %w",
			s.cfg.ID, statusName(status), errdefs.ErrFailedPrecondition))
	}
	if err := s.rt.run(ctx, nil, "start", s.cfg.ID); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
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
	}
	return resp, nil
}

func (s *service) Wait(ctx context.Context, req *shimv1.WaitRequest) (*shimv1.WaitResponse, error) {
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
	return &shimv1.WaitResponse{ExitStatus: s.exit.Status, ExitedAt: s.exit.At.UnixNano()}, nil
}

func (s *service) Kill(ctx context.Context, req *shimv1.KillRequest) (*shimv1.KillResponse, error) {
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
	if err := s.rt.run(ctx, nil, args...); err != nil {
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
	if err := s.rt.run(ctx, nil, append(args, s.cfg.ID)...); err != nil {
		return nil, err
	}
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

func (s *service) Attach(req *shimv1.AttachRequest, stream shimv1.Shim_AttachServer) error {
	s.mu.Lock()
	cio := s.io
	s.mu.Unlock()
	if cio == nil {
		return errdefs.ToGRPC(fmt.Errorf("container %s not created: %w", s.cfg.ID, errdefs.ErrFailedPrecondition))
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
	// The header tells the client it is attached: nothing written from
	// now on is missed.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	ctx := stream.Context()
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
	go s.onShutdown()
	return &shimv1.ShutdownResponse{}, nil
}
