package container

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A standby runtime (package standby) waits for a create it expects: it
// can start that container's init ahead, a "zygote". Cloned into new pid,
// UTS and IPC namespaces (what engined, containerd and the CRI ask for
// nearly every container) and exec'd, runtime-init then waits, with
// /dev/null as its stdio, until the create hands it its stdio and the fds
// the clone would have given it, and the namespaces still to make, which
// it unshares: its mount namespace (a copy made only then, for the
// container's rootfs and a network namespace's bind mount, made by the
// supervisor and engined after the zygote started, to be in it: the
// host's mounts need not propagate) and a new network namespace (one
// joined by path is joined as always, by the plan). The create's clone
// and init's exec, about 2 ms of its path here, were done while the spare
// waited.
//
// A spec the zygote does not fit (a user namespace, namespaces joined
// before the set-up, a namespace of the host's where the zygote has its
// own, more fds than one message carries) gets a fresh init as before, and
// the zygote is killed.
type zygote struct {
	cmd  *exec.Cmd
	sock *os.File // the runtime's end of init's sync socket
}

// zygoteFlags are the namespaces a zygote is cloned into.
const zygoteFlags = unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC

// zygoteUnshare are the namespaces a zygote makes once woken: the mount
// namespace always (a spec it fits asks for a new one), the network
// namespace when the spec asks for a new one.
const zygoteUnshare = unix.CLONE_NEWNS | unix.CLONE_NEWNET

// zygoteMagic and zygoteMaxFds are runtime-init's (ZYGOTE_MAGIC,
// ZYGOTE_MAX_FDS).
const (
	zygoteMagic  = 0x7a79676f
	zygoteMaxFds = 64
)

// spareInit is the zygote of this standby session, if it started one.
var spareInit *zygote

// StartInitAhead starts the zygote for the next create. Only for a
// process whose inits are reaped by its caller or by itself, never waited
// for by create: a standby runtime (InitSibling), where the zygote is the
// caller's child from its clone, as the init it becomes must be, or a
// process that runs the create in its own (CreateOpts.CallerReaps), whose
// child it is.
func StartInitAhead() error {
	if spareInit != nil {
		return nil
	}
	exe, err := protectedHelper()
	if err != nil {
		return err
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer childSock.Close()
	flags := uintptr(zygoteFlags)
	if InitSibling {
		flags |= unix.CLONE_PARENT
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args:        []string{InitHelper, "zygote"},
		Env:         []string{},
		ExtraFiles:  []*os.File{childSock}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags},
	}
	if err := cmd.Start(); err != nil {
		parentSock.Close()
		return fmt.Errorf("start init ahead: %w", err)
	}
	spareInit = &zygote{cmd: cmd, sock: parentSock}
	return nil
}

// startingInit, when set, is closed once the start StartInitAheadBeside
// began is over (spareInit set, or not if it failed).
var startingInit chan struct{}

// reapDropped says a dropped zygote is this process's to reap: its inits
// are its own children, waited for by the create (the command line).
var reapDropped bool

// StartInitAheadBeside starts the zygote in the background, for a create
// in this process that comes next: the command line's `create` and `run`,
// whose clone and init's exec (a millisecond or more) then overlap the
// bundle's load instead of following it. A spec the zygote does not fit
// gets a fresh init, the zygote killed and reaped. Not for a standby,
// which starts its own (StartInitAhead), nor a caller that reaps its
// inits itself.
func StartInitAheadBeside() {
	if InitSibling || spareInit != nil || startingInit != nil {
		return
	}
	reapDropped = true
	startingInit = make(chan struct{})
	go func() {
		defer close(startingInit)
		if err := StartInitAhead(); err != nil {
			Warnf("init started ahead: %v (a fresh one instead)", err)
		}
	}()
}

// initAheadWaiting reports whether an init started ahead waits for a
// create, or is being started for it (then spareInit is the starting
// goroutine's until startingInit closes: not read here).
func initAheadWaiting() bool { return startingInit != nil || spareInit != nil }

// takeZygote returns the spare init when it fits spec and the create's
// fds, with the namespaces it is still to unshare; otherwise it drops the
// spare, if any, and returns nil.
func takeZygote(spec *specs.Spec, nfds int, early bool) (*zygote, uintptr) {
	if startingInit != nil {
		<-startingInit
	}
	z := spareInit
	if z == nil {
		return nil, 0
	}
	spareInit = nil
	unshare, ok := zygoteFits(spec, nfds, early)
	if !ok {
		z.drop()
		return nil, 0
	}
	return z, unshare
}

// zygoteFits reports whether a zygote can be the init of spec, and the
// namespaces it must unshare.
func zygoteFits(spec *specs.Spec, nfds int, early bool) (uintptr, bool) {
	if early || nfds > zygoteMaxFds || spec.Linux == nil {
		return 0, false
	}
	var fresh, joined uintptr
	for _, ns := range spec.Linux.Namespaces {
		f := cloneFlags[ns.Type]
		if ns.Type == specs.UserNamespace || ns.Type == specs.TimeNamespace {
			return 0, false
		}
		if ns.Path == "" {
			fresh |= f
		} else {
			joined |= f
		}
	}
	// The pid and mount namespaces must be new ones (one joined by path is
	// an early join, above); UTS and IPC new or joined by path, not the
	// host's, which the zygote has left.
	if fresh&(unix.CLONE_NEWPID|unix.CLONE_NEWNS) != unix.CLONE_NEWPID|unix.CLONE_NEWNS {
		return 0, false
	}
	if (fresh|joined)&(unix.CLONE_NEWUTS|unix.CLONE_NEWIPC) != unix.CLONE_NEWUTS|unix.CLONE_NEWIPC {
		return 0, false
	}
	extra := fresh &^ zygoteFlags
	if extra&^zygoteUnshare != 0 {
		return 0, false
	}
	return extra, true
}

// wake hands the zygote what the clone would have given init: stdio, then
// the fds from 4 on, in order. It is init from then on.
func (z *zygote) wake(stdio [3]*os.File, extra []*os.File, unshare uintptr, setsid bool) error {
	fds := make([]int, 0, 3+len(extra))
	for _, f := range stdio {
		fds = append(fds, int(f.Fd()))
	}
	for _, f := range extra {
		fds = append(fds, int(f.Fd()))
	}
	h := make([]byte, 16)
	binary.NativeEndian.PutUint32(h[0:], zygoteMagic)
	binary.NativeEndian.PutUint32(h[4:], uint32(len(fds)))
	binary.NativeEndian.PutUint32(h[8:], uint32(unshare))
	if setsid {
		binary.NativeEndian.PutUint32(h[12:], 1)
	}
	rc, err := z.sock.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), h, unix.UnixRights(fds...), nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	// Open until sent; the message holds its own references from then on.
	runtime.KeepAlive(stdio)
	runtime.KeepAlive(extra)
	return serr
}

// drop kills an unused zygote. It is reaped by whoever reaps inits: the
// caller of a standby (CLONE_PARENT), the process's own reaper, or, on the
// command line, here.
func (z *zygote) drop() {
	_ = z.cmd.Process.Kill()
	if reapDropped {
		_ = z.cmd.Wait()
	} else {
		_ = z.cmd.Process.Release()
	}
	z.sock.Close()
}

// DropInitAhead kills the zygote started for a create that will not come
// (or not to this process), if there is one: after the one being started
// beside the command line's parsing is.
func DropInitAhead() {
	if startingInit != nil {
		<-startingInit
	}
	if z := spareInit; z != nil {
		spareInit = nil
		z.drop()
	}
}
