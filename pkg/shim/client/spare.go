package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/shim/record"
)

// ErrSpareGone is Spare.Start's error when the spare can no longer be
// used (it exited, or was closed): nothing was started, start a fresh
// shim instead.
var ErrSpareGone = errors.New("spare shim is gone")

// Spare is a shim process started before anyone knows which container it
// will serve, so that its start-up (the exec and the Go runtime's start,
// most of a shim spawn) overlaps with other work, such as preparing the
// container's snapshot. It waits, having done nothing, for its arguments
// (`shim spare`, docs/shim.md); when the other end of its config socket
// closes without them (Close, or the supervisor died) it exits.
type Spare struct {
	binary string
	proc   *os.Process
	exited chan struct{}
	mu     sync.Mutex
	conf   *os.File // our end of the config socket; nil once used or closed
	ready  *os.File // the read end of its ready pipe
	conn   *os.File // our end of its API connection (record.SpareConnArg)
}

// StartSpare starts a spare shim of binary. With standbyRuntime (the
// path of berth's runtime, "" for none) the spare starts a standby of that
// runtime while it waits, used when its container runs with it.
func StartSpare(binary, standbyRuntime string) (*Spare, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("spare shim: socketpair: %w", err)
	}
	conf, child := os.NewFile(uintptr(fds[0]), "spare-config"), os.NewFile(uintptr(fds[1]), "spare-config")
	defer child.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		conf.Close()
		return nil, err
	}
	defer devnull.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		conf.Close()
		return nil, err
	}
	defer readyW.Close()
	// Its API connection, made now (record.SpareConnArg).
	cfds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		conf.Close()
		readyR.Close()
		return nil, fmt.Errorf("spare shim: socketpair: %w", err)
	}
	conn, theirs := os.NewFile(uintptr(cfds[0]), "spare-api"), os.NewFile(uintptr(cfds[1]), "spare-api")
	defer theirs.Close()
	// Its stderr is /dev/null until it is given its state directory's log.
	cmd := exec.Command(binary, record.SpareArg, record.SpareConnArg)
	if standbyRuntime != "" {
		cmd.Args = append(cmd.Args, record.SpareStandbyArg, standbyRuntime)
	}
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{readyW, child, theirs} // fds 3, 4 and 5
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		conf.Close()
		readyR.Close()
		conn.Close()
		return nil, fmt.Errorf("start spare shim %s: %w", binary, err)
	}
	return &Spare{binary: binary, proc: cmd.Process, exited: reap(cmd), conf: conf, ready: readyR, conn: conn}, nil
}

// Pid is the spare's process id.
func (s *Spare) Pid() int { return s.proc.Pid }

// Exited is closed once the spare has exited and been reaped.
func (s *Spare) Exited() <-chan struct{} { return s.exited }

// Binary is the shim executable the spare runs.
func (s *Spare) Binary() string { return s.binary }

// Alive tells whether the spare can still be given a container.
func (s *Spare) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conf == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Close makes an unused spare exit (it is reaped in the background); a
// spare that was started is not affected.
func (s *Spare) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conf != nil {
		s.conf.Close()
		s.conf = nil
		s.ready.Close()
		s.conn.Close()
	}
}

// Start gives the spare the shim o describes, as Start would start it
// (o.ShimBinary must be the spare's binary), and returns a client on the
// connection made at the spare's start: calls go out at once and are
// answered once the shim is set up. A set-up that fails (or takes longer
// than o.ReadyTimeout) is the error of the client's Create.
// ErrSpareGone: the spare could not take it; nothing was done.
func (s *Spare) Start(ctx context.Context, o StartOpts) (*Client, error) {
	s.mu.Lock()
	conf, ready, conn := s.conf, s.ready, s.conn
	s.conf = nil
	s.mu.Unlock()
	if conf == nil {
		return nil, ErrSpareGone
	}
	defer conf.Close()
	defer conn.Close() // FileConn below has its own
	used := false
	defer func() {
		if !used {
			ready.Close()
		}
	}()
	if o.ShimBinary != s.binary {
		return nil, fmt.Errorf("spare shim runs %s, not %s: %w", s.binary, o.ShimBinary, ErrSpareGone)
	}
	args, logFile, err := prepare(&o)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	msg, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	nc, err := net.FileConn(conn)
	if err != nil {
		return nil, fmt.Errorf("spare shim: %w", err)
	}
	// One datagram: the arguments, and the log as its stderr.
	if err := unix.Sendmsg(int(conf.Fd()), msg, unix.UnixRights(int(logFile.Fd())), nil, unix.MSG_NOSIGNAL); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: %v", ErrSpareGone, err)
	}
	used = true
	c := newClient(ttrpc.NewClient(nc, ttrpc.WithUnaryClientInterceptor(traceCalls(o.Socket))), o.Socket)
	c.pid, c.exited = s.proc.Pid, s.exited
	c.setUp = watchReady(o, s.proc, s.exited, ready, logFile.Name(), c.conn)
	return c, nil
}
