package cri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// maxExecOutput bounds what ExecSync keeps of each stream (the kubelet's
// probes read little; a runaway command must not exhaust the daemon).
const maxExecOutput = 16 << 20

// execProcess is the container's own process (user, environment, working
// directory, capabilities, seccomp's no_new_privs) running argv.
func (s *Server) execProcess(ctx context.Context, id string, argv []string, tty bool) ([]byte, error) {
	if len(argv) == 0 {
		return nil, invalidf("cmd", "empty")
	}
	c, err := s.sup.ContainerService().Get(ctx, &supervisorv1.GetContainerRequest{Id: id})
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(c.GetContainer().GetSpec(), &spec); err != nil || spec.Process == nil {
		return nil, fmt.Errorf("container %s: spec: %v: %w", id, err, errdefs.ErrFailedPrecondition)
	}
	p := *spec.Process
	p.Args, p.Terminal, p.ConsoleSize = argv, tty, nil
	return json.Marshal(&p)
}

// ExecSync runs a command in a running container and returns its output
// and exit code; past the timeout the command is killed and the call
// fails with DeadlineExceeded.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	r, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	proc, err := s.execProcess(ctx, r.id(), req.GetCmd(), false)
	if err != nil {
		return nil, err
	}
	execID := "sync-" + newID()[:16]
	ts := s.sup.TaskService()
	if _, err := ts.Exec(ctx, &supervisorv1.ExecProcessRequest{ContainerId: r.id(), ExecId: execID, Spec: proc}); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", r.id(), err)
	}
	// The exec is removed whatever happens, on a context of its own.
	defer ts.Delete(context.WithoutCancel(ctx), &supervisorv1.DeleteTaskRequest{ContainerId: r.id(), ExecId: execID, Force: true})
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := ts.Attach(actx, &supervisorv1.AttachTaskRequest{ContainerId: r.id(), ExecId: execID, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: attach: %w", r.id(), err)
	}
	if _, err := st.Header(); err != nil {
		return nil, fmt.Errorf("exec in %s: attach: %w", r.id(), errdefs.FromGRPC(err))
	}
	if _, err := ts.Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: r.id(), ExecId: execID}); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", r.id(), err)
	}
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
			b := &stdout
			if m.GetStream() == supervisorv1.AttachTaskResponse_STDERR {
				b = &stderr
			}
			if b.Len() < maxExecOutput {
				b.Write(m.GetData()[:min(len(m.GetData()), maxExecOutput-b.Len())])
			}
		}
	}()
	var timeout <-chan time.Time
	if req.GetTimeout() > 0 {
		t := time.NewTimer(time.Duration(req.GetTimeout()) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err = <-done:
	case <-timeout:
		ts.Kill(context.WithoutCancel(ctx), &supervisorv1.KillTaskRequest{ContainerId: r.id(), ExecId: execID, Signal: uint32(syscall.SIGKILL)})
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		ts.Wait(wctx, &supervisorv1.WaitTaskRequest{ContainerId: r.id(), ExecId: execID})
		wcancel()
		return nil, fmt.Errorf("exec in %s: command timed out after %ds: %w", r.id(), req.GetTimeout(), context.DeadlineExceeded)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("exec in %s: output: %w", r.id(), err)
	}
	w, err := ts.Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: r.id(), ExecId: execID})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: wait: %w", r.id(), err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: int32(w.GetExitStatus())}, nil
}
