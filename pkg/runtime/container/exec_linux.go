package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOpts are the arguments of `exec`.
type ExecOpts struct {
	Root, ID      string
	Process       *specs.Process
	PidFile       string
	ConsoleSocket string
	Detach        bool
	PreserveFds   int
}

// DefaultProcess is the container's own process (from its bundle's
// config.json) with args replaced: what `exec ID CMD...` starts from.
func DefaultProcess(root, id string) (*specs.Process, error) {
	s, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	spec, _, err := loadBundleSpec(s.Bundle)
	if err != nil {
		return nil, err
	}
	if spec.Process == nil {
		return nil, invalid("process is not set")
	}
	p := *spec.Process
	p.Terminal = false
	p.ConsoleSize = nil
	return &p, nil
}

// Exec runs a new process in a running container. Without Detach it waits and
// returns the process's exit code (128+signal when killed).
func Exec(o ExecOpts) (int, error) {
	s, err := Load(o.Root, o.ID)
	if err != nil {
		return -1, err
	}
	if s.Status != Running && s.Status != Created {
		return -1, classErr(ErrFailedPrecondition, "cannot exec in a stopped container")
	}
	p := o.Process
	if p == nil || len(p.Args) == 0 {
		return -1, classErr(ErrInvalidArgument, "exec: process args are empty")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return -1, classErr(ErrInvalidArgument, "exec: terminal requested but --console-socket was not given")
	}
	if _, err := capsFromSpec(p.Capabilities); err != nil {
		return -1, classErr(ErrInvalidArgument, "exec: %v", err)
	}
	if !o.Detach {
		// The process is our grandchild (InitHelper forks): adopt it when
		// its parent exits so that we can wait for it.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("set child subreaper: %w", err)
		}
	}
	// InitHelper joins the namespaces and sets the process up inside them:
	// it runs there, so it comes from a protected fd.
	helper, err := protectedHelper()
	if err != nil {
		return -1, err
	}
	defer helper.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer parentSock.Close()
	extra := []*os.File{childSock}
	if o.ConsoleSocket != "" {
		cf, err := dialUnix(o.ConsoleSocket)
		if err != nil {
			childSock.Close()
			return -1, fmt.Errorf("connect to console socket: %w", err)
		}
		defer cf.Close()
		extra = append(extra, cf)
	}
	scmp, err := loadSeccomp(s)
	if err != nil {
		childSock.Close()
		return -1, err
	}
	seccompConnFd := 0
	if agent, err := dialSeccompAgent(scmp); err != nil {
		childSock.Close()
		return -1, err
	} else if agent != nil {
		defer agent.Close()
		seccompConnFd = 3 + len(extra)
		extra = append(extra, agent)
	}
	fdBase := 3 + len(extra)
	extra = append(extra, preservedFiles(o.PreserveFds)...)
	// Planned before the process exists: a refused process costs nothing.
	userNS, err := sameNamespace(s.Pid, "user")
	if err != nil {
		childSock.Close()
		return -1, err
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(int(helper.Fd())),
		Args:       []string{InitHelper, "exec"},
		Env:        []string{"_BERTH_NSENTER=" + strconv.Itoa(s.Pid)},
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: extra,
	}
	err = cmd.Start()
	childSock.Close()
	if err != nil {
		return -1, fmt.Errorf("start exec process: %w", err)
	}
	dec := json.NewDecoder(parentSock)
	var m syncMsg
	var pidMsg syncMsg
	if err := dec.Decode(&pidMsg); err != nil {
		_ = cmd.Wait()
		return -1, fmt.Errorf("exec: join the container's namespaces: %w", err)
	}
	_ = cmd.Wait() // the helper's parent exits once it has forked
	if pidMsg.Type == "error" {
		return -1, errors.New(pidMsg.Msg)
	}
	pid := pidMsg.Pid
	fail := func(err error) (int, error) {
		_ = unix.Kill(pid, unix.SIGKILL)
		if !o.Detach {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
		}
		return -1, err
	}
	if s.Cgroups != nil {
		if err := s.Cgroups.Apply(pid); err != nil {
			return fail(fmt.Errorf("exec: join the container's cgroups: %w", err))
		}
	}
	state := specs.State{Version: specs.Version, ID: o.ID, Status: Running, Pid: pid, Bundle: s.Bundle}
	plan, err := execPlan(p, !userNS, scmp, state, seccompConnFd, fdBase, o.PreserveFds)
	if err != nil {
		return fail(err)
	}
	if err := sendPlan(parentSock, plan); err != nil {
		return fail(err)
	}
	for {
		m = syncMsg{}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("exec process exited without reporting")
			}
			return fail(err)
		}
		if m.Type == "warn" {
			Warnf("%s", m.Msg)
			continue
		}
		break
	}
	switch m.Type {
	case "ready":
	case "error":
		return fail(errors.New(m.Msg))
	default:
		return fail(fmt.Errorf("unexpected message %q from exec process", m.Type))
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return fail(err)
		}
	}
	if o.Detach {
		return 0, nil
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	go func() {
		for sg := range sigs {
			_ = unix.Kill(pid, sg.(syscall.Signal))
		}
	}()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for exec process: %w", err)
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// sameNamespace reports whether process pid is in our namespace of kind
// (a name under /proc/PID/ns).
func sameNamespace(pid int, kind string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Stat("/proc/self/ns/"+kind, &a); err != nil {
		return false, err
	}
	p := "/proc/" + strconv.Itoa(pid) + "/ns/" + kind
	if err := unix.Stat(p, &b); err != nil {
		return false, fmt.Errorf("stat %s: %w", p, err)
	}
	return a.Ino == b.Ino && a.Dev == b.Dev, nil
}
