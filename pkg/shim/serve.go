package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// Early is what a spare shim starts before it is given its container: its
// reaper and, when it was told berth's runtime, what that runtime's create
// in this process needs (inProcess; a standby of the runtime where that
// cannot be), so that it is done when the create comes. Given the
// connection its launcher made, it also serves the shim API on it already
// (the server, the connection's handshake and its readers), its calls held
// until Run has set the shim up for its container.
type Early struct {
	reaper  *Reaper
	stop    chan struct{}
	standby chan *standbyRuntime // receives the standby (nil: none) once started
	api     *earlyAPI            // nil: no connection was made at the start
}

// earlyAPI is the shim API a spare serves before it has its container.
type earlyAPI struct {
	srv    *ttrpc.Server
	svc    *service // set up by Run (service.init) before gate opens
	gate   *gate
	late   *lateListener
	tl     *trackedListener
	served chan error
}

// StartEarly starts the reaper and, when runtime is not "", readies its
// create in the background: the spare waits for its container meanwhile.
// A failure there is only logged. conn, when not nil, is the connection
// its launcher made (record.SpareConnArg): the API is served on it from
// now on, its calls waiting for Run.
func StartEarly(runtime string, conn net.Conn) (*Early, error) {
	e := &Early{reaper: NewReaper(), stop: make(chan struct{}), standby: make(chan *standbyRuntime, 1)}
	if err := e.reaper.Run(e.stop); err != nil {
		return nil, err
	}
	if conn != nil {
		api, err := serveEarly(conn)
		if err != nil {
			close(e.stop)
			return nil, err
		}
		e.api = api
	}
	if runtime == "" {
		e.standby <- nil
		return e, nil
	}
	if len(DefaultMasks(runtime)) == 0 {
		// Its create will run in this process (inProcess): ready that.
		e.standby <- nil
		go prepareInProcess(runtime)
		return e, nil
	}
	go func() {
		sp, err := startStandby(e.reaper, runtime, DefaultMasks(runtime), true)
		if err != nil {
			log.Printf("%v", err)
		}
		e.standby <- sp
	}()
	return e, nil
}

// serveEarly serves the API on conn, every call held at the gate.
func serveEarly(conn net.Conn) (*earlyAPI, error) {
	a := &earlyAPI{svc: &service{}, gate: newGate(), late: newLateListener(conn), served: make(chan error, 1)}
	a.tl = newTrackedListener(a.late)
	srv, err := newServer(a.gate, func() string { return a.svc.cfg.Socket })
	if err != nil {
		return nil, err
	}
	a.srv = srv
	shimv1.RegisterShimService(srv, gatedService{a.svc, a.gate})
	go func() { a.served <- srv.Serve(context.Background(), a.tl) }()
	return a, nil
}

// Run serves the shim API for cfg until Shutdown is called. Once the socket
// listens it writes "ok\n" to ready and closes it; a failure before that is
// written to ready as "error: ...\n". ready may be nil, and so may early
// (what the shim started as a spare).
func Run(ctx context.Context, cfg Config, ready io.WriteCloser, early *Early) (err error) {
	var api *earlyAPI
	if early != nil {
		api = early.api
	}
	notReady := ready
	defer func() {
		if err != nil && api != nil {
			api.gate.open(err) // the calls waiting get the set-up's error
		}
		if notReady != nil {
			if err != nil {
				fmt.Fprintf(notReady, "error: %v\n", err)
			}
			notReady.Close()
		}
	}()
	if cfg.ID == "" || cfg.Bundle == "" || cfg.Runtime == "" || cfg.StateDir == "" {
		return fmt.Errorf("id, bundle, runtime and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	if err := record.CheckSocketPath(cfg.Socket); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, record.ShimPidFile),
		[]byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return fmt.Errorf("write shim pid: %w", err)
	}
	l, err := listen(cfg.Socket)
	if err != nil {
		return err
	}

	var stop chan struct{}
	var reaper *Reaper
	if early != nil {
		stop, reaper = early.stop, early.reaper
	} else {
		stop, reaper = make(chan struct{}), NewReaper()
		if err := reaper.Run(stop); err != nil {
			l.Close()
			return err
		}
	}
	shutdown := make(chan struct{})
	onShutdown := func() { close(shutdown) }
	var (
		srv    *ttrpc.Server
		svc    *service
		tl     *trackedListener
		served chan error
	)
	if api != nil {
		// Serving already: set the service up, then let the calls in.
		srv, svc, tl, served = api.srv, api.svc, api.tl, api.served
		svc.init(cfg, reaper, onShutdown)
	} else {
		tl = newTrackedListener(l)
		if srv, err = newServer(nil, func() string { return cfg.Socket }); err != nil {
			close(stop)
			l.Close()
			return err
		}
		svc = newService(cfg, reaper, onShutdown)
	}
	if early != nil {
		if sp := <-early.standby; sp != nil {
			svc.rt.adopt(sp)
		}
	}
	if api != nil {
		api.late.attach(l)
		handOver.ready = time.Now()
		api.gate.open(nil)
	} else {
		shimv1.RegisterShimService(srv, svc)
		served = make(chan error, 1)
		go func() { served <- srv.Serve(context.Background(), tl) }()
	}
	log.Printf("shim for %s listening on %s", cfg.ID, cfg.Socket)
	if ready != nil {
		notReady = nil
		_, _ = io.WriteString(ready, "ok\n")
		ready.Close()
	}
	// The container's create is the next call: have its runtime start up
	// while the caller connects (after the readiness line, which the
	// caller waits for).
	svc.rt.prepare(true)

	cleanup := true
	select {
	case <-shutdown:
	case <-ctx.Done():
		// Asked to stop while (maybe) holding a container: keep the state
		// for whoever looks after it next.
		cleanup = false
		log.Printf("stopping: %v", ctx.Err())
	case err := <-served:
		close(stop)
		return fmt.Errorf("serve: %w", err)
	}
	// ttrpc marks a connection busy only after the handler was dispatched,
	// so a server Shutdown started from within the Shutdown handler can
	// close the caller's connection before the reply goes out. Let callers
	// hang up first (the supervisor closes right after the reply), bounded.
	if cleanup {
		tl.waitIdle(time.Second)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	cancel()
	close(stop)
	os.Remove(cfg.Socket)
	os.Remove(record.TraceFile(cfg.Socket))
	if !cleanup {
		return nil
	}
	if err := os.RemoveAll(cfg.StateDir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}

// listen creates the socket 0600, replacing a stale socket file but never
// one a live shim answers on.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	// Nothing there (the usual case) needs no dial: no shim answers on a
	// path without a socket file.
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s is in use: %w", path, errdefs.ErrAlreadyExists)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// newServer is the shim's ttrpc server: only our own user may connect;
// calls wait at g (nil: none) and are traced (socket names the trace file).
// ttrpc, not gRPC: no HTTP/2, no goroutine per idle stream, a third of the
// text (docs/decisions.md, issue 13).
func newServer(g *gate, socket func() string) (*ttrpc.Server, error) {
	srv, err := ttrpc.NewServer(ttrpc.WithServerHandshaker(sameUserTracked(ttrpc.UnixSocketRequireSameUser())),
		ttrpc.WithUnaryServerInterceptor(gated(g, traceInterceptor(socket))))
	if err != nil {
		return nil, fmt.Errorf("ttrpc server: %w", err)
	}
	return srv, nil
}

// gate holds a spare's calls until its shim is set up for its container.
type gate struct {
	done chan struct{}
	err  error
}

func newGate() *gate { return &gate{done: make(chan struct{})} }

// open lets the calls through, or fails them with err; only the first
// call counts.
func (g *gate) open(err error) {
	select {
	case <-g.done:
	default:
		g.err = err
		close(g.done)
	}
}

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gated holds every unary call at g before next.
func gated(g *gate, next ttrpc.UnaryServerInterceptor) ttrpc.UnaryServerInterceptor {
	if g == nil {
		return next
	}
	return func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
		if err := g.wait(ctx); err != nil {
			return nil, errdefs.ToGRPC(err)
		}
		return next(ctx, unmarshal, info, method)
	}
}

// gatedService holds the streaming calls at the gate, which ttrpc's unary
// interceptor does not see.
type gatedService struct {
	*service
	g *gate
}

func (s gatedService) Attach(ctx context.Context, req *shimv1.AttachRequest, stream shimv1.Shim_AttachServer) error {
	if err := s.g.wait(ctx); err != nil {
		return errdefs.ToGRPC(err)
	}
	return s.service.Attach(ctx, req, stream)
}

func (s gatedService) WriteStdin(ctx context.Context, stream shimv1.Shim_WriteStdinServer) (*shimv1.WriteStdinResponse, error) {
	if err := s.g.wait(ctx); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return s.service.WriteStdin(ctx, stream)
}

// lateListener accepts first a connection made before the shim listened
// (a spare's launcher's, record.SpareConnArg), then those of the listener
// attached once the shim has its socket.
type lateListener struct {
	mu       sync.Mutex
	first    net.Conn
	l        net.Listener
	attached chan struct{} // closed by attach or Close
	closed   bool
}

func newLateListener(first net.Conn) *lateListener {
	return &lateListener{first: first, attached: make(chan struct{})}
}

// attach makes l the listener of the connections after the first; a
// lateListener already closed closes l.
func (ll *lateListener) attach(l net.Listener) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.closed {
		l.Close()
		return
	}
	ll.l = l
	close(ll.attached)
}

func (ll *lateListener) Accept() (net.Conn, error) {
	ll.mu.Lock()
	c := ll.first
	ll.first = nil
	ll.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-ll.attached
	ll.mu.Lock()
	l := ll.l
	ll.mu.Unlock()
	if l == nil {
		return nil, net.ErrClosed
	}
	return l.Accept()
}

func (ll *lateListener) Close() error {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.closed {
		return nil
	}
	ll.closed = true
	if ll.first != nil {
		ll.first.Close()
		ll.first = nil
	}
	if ll.l == nil {
		close(ll.attached)
		return nil
	}
	return ll.l.Close()
}

// Addr is the attached listener's, or a unix address without a name
// before it.
func (ll *lateListener) Addr() net.Addr {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.l != nil {
		return ll.l.Addr()
	}
	return &net.UnixAddr{Net: "unix"}
}

// trackedListener counts the connections it accepted that are still open.
type trackedListener struct {
	net.Listener
	mu   sync.Mutex
	open int
	idle chan struct{} // closed and replaced when open drops to 0
}

func newTrackedListener(l net.Listener) *trackedListener {
	t := &trackedListener{Listener: l, idle: make(chan struct{})}
	close(t.idle)
	return t
}

func (t *trackedListener) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.open == 0 {
		t.idle = make(chan struct{})
	}
	t.open++
	t.mu.Unlock()
	return &trackedConn{Conn: c, l: t}, nil
}

func (t *trackedListener) closed() {
	t.mu.Lock()
	t.open--
	if t.open == 0 {
		close(t.idle)
	}
	t.mu.Unlock()
}

// waitIdle returns once no accepted connection is open, or after d.
func (t *trackedListener) waitIdle(d time.Duration) {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(d):
	}
}

type trackedConn struct {
	net.Conn
	l    *trackedListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(c.l.closed)
	return c.Conn.Close()
}

// sameUserTracked checks the peer on the socket itself (the check needs the
// *net.UnixConn) and hands ttrpc the counting wrapper.
func sameUserTracked(check ttrpc.UnixCredentialsFunc) ttrpc.Handshaker {
	return handshakerFunc(func(ctx context.Context, conn net.Conn) (net.Conn, any, error) {
		tc, ok := conn.(*trackedConn)
		if !ok {
			return check.Handshake(ctx, conn)
		}
		_, auth, err := check.Handshake(ctx, tc.Conn)
		if err != nil {
			return nil, nil, err
		}
		return tc, auth, nil
	})
}

type handshakerFunc func(ctx context.Context, conn net.Conn) (net.Conn, any, error)

func (fn handshakerFunc) Handshake(ctx context.Context, conn net.Conn) (net.Conn, any, error) {
	return fn(ctx, conn)
}
