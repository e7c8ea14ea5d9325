package shim

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/shim/record"
)

// consoleSocket receives the pty master a runtime sends over
// --console-socket (one fd in an SCM_RIGHTS message).
type consoleSocket struct {
	path    string
	tempDir string
	l       *net.UnixListener
	master  chan masterResult
}

type masterResult struct {
	f   *os.File
	err error
}

// newConsoleSocket listens in stateDir, or in a short temp dir when that
// path would be too long for a unix socket.
func newConsoleSocket(stateDir string) (*consoleSocket, error) {
	cs := &consoleSocket{path: filepath.Join(stateDir, "console.sock"), master: make(chan masterResult, 1)}
	if record.CheckSocketPath(cs.path) != nil {
		dir, err := os.MkdirTemp("", "bsc")
		if err != nil {
			return nil, err
		}
		cs.tempDir = dir
		cs.path = filepath.Join(dir, "c.sock")
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cs.path, Net: "unix"})
	if err != nil {
		cs.Close()
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if err := os.Chmod(cs.path, 0o600); err != nil {
		l.Close()
		cs.Close()
		return nil, err
	}
	cs.l = l
	go func() { cs.master <- cs.receive() }()
	return cs, nil
}

func (cs *consoleSocket) receive() masterResult {
	conn, err := cs.l.AcceptUnix()
	if err != nil {
		return masterResult{err: fmt.Errorf("console socket: %w", err)}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096) // the runtime sends the pty's name as data
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return masterResult{err: fmt.Errorf("console socket: receive: %w", err)}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return masterResult{err: fmt.Errorf("console socket: %w", err)}
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 0 {
		return masterResult{err: fmt.Errorf("console socket: no fd received")}
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	unix.CloseOnExec(fds[0])
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return masterResult{err: err}
	}
	return masterResult{f: os.NewFile(uintptr(fds[0]), "pty-master")}
}

// Master returns the pty master once received; call it after the runtime
// has exited successfully.
func (cs *consoleSocket) Master(timeout time.Duration) (*os.File, error) {
	select {
	case r := <-cs.master:
		return r.f, r.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("console socket: the runtime sent no pty master")
	}
}

// Close stops listening and removes the socket.
func (cs *consoleSocket) Close() {
	if cs.l != nil {
		cs.l.Close() // unlinks the socket
		select {
		case r := <-cs.master: // received but not taken
			if r.f != nil {
				r.f.Close()
			}
		default:
		}
	}
	if cs.tempDir != "" {
		os.RemoveAll(cs.tempDir)
	}
}
