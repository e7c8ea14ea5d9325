package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Exec, Attach and PortForward answer with a URL of the streaming server
// (Kubernetes' own, k8s.io/cri-streaming, formerly the kubelet's
// pkg/cri/streaming), which serves the SPDY and websocket protocols of
// kubectl and calls back into streamRuntime. It listens on
// Config.StreamAddress (default 127.0.0.1:0, as containerd's; the kubelet
// proxies to it).

// DefaultStreamAddress is where the streaming server listens by default.
const DefaultStreamAddress = "127.0.0.1:0"

type streamRuntime struct{ s *Server }

func (s *Server) startStreaming() error {
	host, port, err := net.SplitHostPort(s.cfg.StreamAddress)
	if err != nil {
		return fmt.Errorf("stream address %q: %w", s.cfg.StreamAddress, err)
	}
	// Listen first so that the URLs carry the real port of ":0".
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return fmt.Errorf("streaming server: %w", err)
	}
	s.stream = srv
	s.streamListener = l
	go func() {
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
		if err := hs.Serve(l); err != nil {
			s.log.Debug("cri: streaming server stopped", "err", err)
		}
	}()
	return nil
}

// Exec returns the URL of an exec into a running container.
func (s *Server) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	r, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	req.ContainerId = r.id()
	resp, err := s.stream.GetExec(req)
	if err != nil {
		return nil, fmt.Errorf("exec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return resp, nil
}

// Attach returns the URL of an attach to a running container.
func (s *Server) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	r, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	req.ContainerId = r.id()
	resp, err := s.stream.GetAttach(req)
	if err != nil {
		return nil, fmt.Errorf("attach: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return resp, nil
}

// PortForward returns the URL of a port forward into a ready pod.
func (s *Server) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if _, err := s.sandboxPid(ctx, r); err != nil {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", r.id(), errdefs.ErrFailedPrecondition)
	}
	for _, p := range req.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, invalidf("port", "%d is not a port", p)
		}
	}
	req.PodSandboxId = r.id()
	resp, err := s.stream.GetPortForward(req)
	if err != nil {
		return nil, fmt.Errorf("port forward: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return resp, nil
}

// Exec runs cmd in the container with the client's streams.
func (rt streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	s := rt.s
	proc, err := s.execProcess(ctx, id, cmd, tty)
	if err != nil {
		return err
	}
	execID := "stream-" + newID()[:16]
	ts := s.sup.TaskService()
	if _, err := ts.Exec(ctx, &supervisorv1.ExecProcessRequest{ContainerId: id, ExecId: execID, Spec: proc, Stdin: in != nil, Terminal: tty}); err != nil {
		return fmt.Errorf("exec in %s: %w", id, err)
	}
	defer ts.Delete(context.WithoutCancel(ctx), &supervisorv1.DeleteTaskRequest{ContainerId: id, ExecId: execID, Force: true})
	outDone, err := s.pipeOutput(ctx, id, execID, out, errw)
	if err != nil {
		return err
	}
	if _, err := ts.Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: id, ExecId: execID}); err != nil {
		return fmt.Errorf("exec in %s: %w", id, err)
	}
	s.pipeInput(ctx, id, execID, in, resize)
	<-outDone
	w, err := ts.Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: id, ExecId: execID})
	if err != nil {
		return fmt.Errorf("exec in %s: wait: %w", id, err)
	}
	if code := int(w.GetExitStatus()); code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command exited with %d", code), Code: code}
	}
	return nil
}

// Attach streams the container's output (and input, when it has stdin)
// until it exits or the client goes.
func (rt streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	s := rt.s
	outDone, err := s.pipeOutput(ctx, id, "", out, errw)
	if err != nil {
		return err
	}
	s.pipeInput(ctx, id, "", in, resize)
	select {
	case <-outDone:
	case <-ctx.Done():
	}
	return nil
}

// pipeOutput copies the process's output to out and errw (either may be
// nil) until it ends; the subscription is in place when it returns.
func (s *Server) pipeOutput(ctx context.Context, id, execID string, out, errw io.WriteCloser) (<-chan struct{}, error) {
	done := make(chan struct{})
	if out == nil && errw == nil {
		close(done)
		return done, nil
	}
	st, err := s.sup.TaskService().Attach(ctx, &supervisorv1.AttachTaskRequest{ContainerId: id, ExecId: execID, Stdout: out != nil, Stderr: errw != nil})
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, err)
	}
	if _, err := st.Header(); err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, errdefs.FromGRPC(err))
	}
	go func() {
		defer close(done)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			w := out
			if m.GetStream() == supervisorv1.AttachTaskResponse_STDERR {
				w = errw
			}
			if w != nil {
				if _, err := w.Write(m.GetData()); err != nil {
					return
				}
			}
		}
	}()
	return done, nil
}

// pipeInput copies in to the process's stdin (closing it at the client's
// EOF) and applies terminal resizes, in the background.
func (s *Server) pipeInput(ctx context.Context, id, execID string, in io.Reader, resize <-chan remotecommandserver.TerminalSize) {
	if resize != nil {
		go func() {
			for sz := range resize {
				s.sup.TaskService().ResizePty(ctx, &supervisorv1.ResizePtyRequest{ContainerId: id, ExecId: execID, Width: uint32(sz.Width), Height: uint32(sz.Height)})
			}
		}()
	}
	if in == nil {
		return
	}
	go func() {
		w, err := s.sup.OpenStdin(ctx, id, execID)
		if err != nil {
			s.log.Debug("cri: open stdin", "id", id, "err", err)
			return
		}
		defer w.Close()
		if _, err := io.Copy(w, in); err == nil {
			w.CloseStdin()
		}
	}()
}

// PortForward connects stream to port on the pod's localhost: the
// connection is made from inside the pod's network namespace.
func (rt streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	s := rt.s
	defer stream.Close()
	r, err := s.find(ctx, kindSandbox, podID)
	if err != nil {
		return err
	}
	conn, err := dialInNetns(ctx, r.label(labelNetns), net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("port forward to pod %s port %d: %w", podID, port, err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	io.Copy(stream, conn)
	wg.Wait()
	return nil
}

// dialInNetns dials addr from the network namespace at nsPath ("" is the
// host's). The socket is made on a thread moved into the namespace; the
// thread goes back before it is released, or dies with its goroutine if
// it cannot.
func dialInNetns(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	if nsPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			runtime.UnlockOSThread()
			return
		}
		defer self.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			ch <- result{nil, err}
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
			runtime.UnlockOSThread()
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		ch <- result{c, err}
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: the thread ends locked, taking the namespace with it
	}()
	res := <-ch
	if res.err != nil && errors.Is(res.err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("nothing listens on %s in the pod: %w", addr, errdefs.ErrFailedPrecondition)
	}
	return res.c, res.err
}
