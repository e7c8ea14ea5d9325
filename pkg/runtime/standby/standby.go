// Package standby starts berth's runtime before its command is known, so
// that the start-up of a runtime process (exec, the Go runtime, package
// inits: 6.5 ms to main on the 2-core test machine, for each of the create
// and the start of a container) overlaps what its caller does before it
// needs the command, and lets one runtime process run the several commands
// of a container's start and end (a session).
//
// The caller (the shim) starts `runtime standby` with one end of a
// SOCK_SEQPACKET socket pair as fd 3. The runtime, once started, writes
// one byte (Ready) to it and waits for one message: the command's
// arguments, working directory and the environment variables to add, as
// JSON, with the command's stdin, stdout and stderr as passed fds. It then runs the
// command as if started with them, and its exit is the command's exit. A
// socket closed without a message makes it exit 0 without doing anything.
//
// A command sent with Keep is a session's: when it succeeds, the runtime
// lets go of its stdio, undoes its environment and writes Ready again in
// place of exiting, and waits for the next command; when it fails, it exits
// with the command's status as without Keep. Any process such a command
// leaves behind must not be the runtime's child, or its exit would wait for
// the runtime's: the runtime makes a container's init a child of its caller
// (CLONE_PARENT), and the caller sends Keep only with commands that start no
// other process (create, start, kill).
//
// Only berth's runtime speaks this: the caller uses it only for a runtime
// it was told is berth's, and falls back to starting the command when the
// standby ended before its ready byte.
package standby

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Arg is the runtime's first argument in standby: `runtime standby`.
const Arg = "standby"

// ArgCreate, after Arg, says that the first command will be a create:
// the runtime starts that container's init ahead (package container,
// StartInitAhead).
const ArgCreate = "--create-next"

// FD is the runtime's end of the socket pair.
const FD = 3

// Ready is the byte the runtime writes once it is waiting for a command.
const Ready = 'R'

// maxMessage bounds a command's message (its arguments and environment).
const maxMessage = 64 << 10

// ErrDropped is Next's error when the caller closed the socket without a
// command: the runtime exits quietly.
var ErrDropped = errors.New("standby dropped")

// Command is what a standby runtime is given to run.
type Command struct {
	Args []string `json:"args"`          // without the program name
	Env  []string `json:"env,omitempty"` // KEY=VALUE to set (added to, or replacing, the inherited ones)
	Dir  string   `json:"dir,omitempty"` // working directory; "" keeps the standby's own
	// Keep: on success, wait for another command instead of exiting.
	Keep bool `json:"keep,omitempty"`
}

// Pair returns a socket pair: the caller's end and the runtime's, which
// goes to the runtime as fd FD (exec.Cmd's ExtraFiles[0]) and is closed by
// the caller once the runtime is started. Both are close-on-exec.
func Pair() (caller, runtime *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("standby: socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "standby"), os.NewFile(uintptr(fds[1]), "standby-runtime"), nil
}

// WaitReady reads the runtime's ready byte from the caller's end: an error
// means the runtime ended (or wrote something else) and cannot take a
// command.
func WaitReady(caller *os.File) error {
	var b [1]byte
	n, err := caller.Read(b[:])
	if n == 1 && b[0] == Ready {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("unexpected %q", b[:n])
	}
	return fmt.Errorf("standby runtime not ready: %w", err)
}

// Send gives the waiting runtime its command and stdio (each of stdin,
// stdout and stderr is passed as an fd; none may be nil).
func Send(caller *os.File, c Command, stdin, stdout, stderr *os.File) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("standby: command of %d bytes is over %d", len(b), maxMessage)
	}
	rights := unix.UnixRights(int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd()))
	if err := unix.Sendmsg(int(caller.Fd()), b, rights, nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("standby: send command: %w", err)
	}
	return nil
}

// Waiter is the runtime's end of a standby.
type Waiter struct {
	fd  int
	ran bool // a command ran: its stdio and environment are still in place
	// env holds the values the last command's environment replaced (nil:
	// the variable was unset).
	env map[string]*string
}

// Listen checks that fd is the caller's socket and returns the runtime's
// end on it.
func Listen(fd int) (*Waiter, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(fd)
		return nil, fmt.Errorf("standby: fd %d is not the caller's socket (standby is started by the shim only)", fd)
	}
	// The command's decode is then not the process's first JSON use.
	_ = json.Unmarshal([]byte(`{"args":[],"env":[]}`), new(Command))
	return &Waiter{fd: fd}, nil
}

// Close closes the runtime's end.
func (w *Waiter) Close() { unix.Close(w.fd) }

// Next signals that the runtime is ready on w and waits for a command:
// once one came, the passed fds are the runtime's stdin, stdout and
// stderr, the command's environment is set and its working directory is
// the current one. Called after a command, it first lets go of that
// command's stdio (the caller reads its output to the end) and undoes its
// environment: its Ready then says the command succeeded. ErrDropped: the
// caller closed its end without a command.
func (w *Waiter) Next() (Command, error) {
	if w.ran {
		if err := w.release(); err != nil {
			return Command{}, err
		}
	}
	fd := w.fd
	for {
		err := unix.Sendto(fd, []byte{Ready}, unix.MSG_NOSIGNAL, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EPIPE || err == unix.ECONNRESET {
			return Command{}, ErrDropped
		}
		if err != nil {
			return Command{}, fmt.Errorf("standby: signal ready: %w", err)
		}
		break
	}
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	var n, oobn, flags int
	for {
		var err error
		n, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECONNRESET {
			return Command{}, ErrDropped
		}
		if err != nil {
			return Command{}, fmt.Errorf("standby: read command: %w", err)
		}
		break
	}
	if n == 0 && oobn == 0 {
		return Command{}, ErrDropped
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return Command{}, err
	}
	defer func() {
		for _, f := range fds {
			if f >= 0 {
				unix.Close(f)
			}
		}
	}()
	// Send never sends these; the kernel drops what did not fit.
	if flags&unix.MSG_TRUNC != 0 {
		return Command{}, fmt.Errorf("standby: command over %d bytes", maxMessage)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return Command{}, fmt.Errorf("standby: command with more fds than stdin, stdout and stderr")
	}
	if len(fds) != 3 {
		return Command{}, fmt.Errorf("standby: command with %d fds, not stdin, stdout and stderr", len(fds))
	}
	w.ran = true
	for i, f := range fds {
		// Without O_CLOEXEC: the command's children (the container's init)
		// inherit its stdio, as from a fresh start.
		if f == i {
			fds[i] = -1 // already in place; keep it open
			if _, err := unix.FcntlInt(uintptr(f), unix.F_SETFD, 0); err != nil {
				return Command{}, fmt.Errorf("standby: stdio %d: %w", i, err)
			}
			continue
		}
		if err := unix.Dup3(f, i, 0); err != nil {
			return Command{}, fmt.Errorf("standby: stdio %d: %w", i, err)
		}
	}
	// From here on, errors go to the command's stderr, where the caller
	// looks for them.
	var c Command
	if err := json.Unmarshal(buf[:n], &c); err != nil {
		return Command{}, fmt.Errorf("standby: command: %w", err)
	}
	if c.Dir != "" {
		if err := unix.Chdir(c.Dir); err != nil {
			return Command{}, fmt.Errorf("standby: working directory %s: %w", c.Dir, err)
		}
	}
	w.env = map[string]*string{}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return Command{}, fmt.Errorf("standby: environment entry %q is not KEY=VALUE", kv)
		}
		if _, seen := w.env[k]; !seen {
			if old, ok := os.LookupEnv(k); ok {
				w.env[k] = &old
			} else {
				w.env[k] = nil
			}
		}
		if err := os.Setenv(k, v); err != nil {
			return Command{}, fmt.Errorf("standby: environment: %w", err)
		}
	}
	return c, nil
}

// release points stdin, stdout and stderr at /dev/null, closing the last
// command's (its caller waits for the end of their output), and restores
// the environment the command changed.
func (w *Waiter) release() error {
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("standby: %w", err)
	}
	defer unix.Close(null)
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(null, i, 0); err != nil {
			return fmt.Errorf("standby: stdio %d: %w", i, err)
		}
	}
	for k, v := range w.env {
		if v == nil {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, *v)
		}
	}
	w.env = nil
	w.ran = false
	return nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("standby: control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("standby: control message: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}
