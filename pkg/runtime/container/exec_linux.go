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

// ExecInitArg is argv[1] of the re-executed runtime that becomes an exec'd
// process; NsenterHelper has already put it into the container's namespaces
// and executed it there.
const ExecInitArg = "exec-init"

const (
	execSyncFd    = 3
	execConsoleFd = 4
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

type execConfig struct {
	SeccompConnFd int              `json:"seccompConnFd,omitempty"`
	HostPid       int              `json:"hostPid,omitempty"`
	Bundle        string           `json:"bundle,omitempty"`
	PreserveFds   int              `json:"preserveFds,omitempty"`
	FdBase        int              `json:"fdBase,omitempty"`
	ID            string           `json:"id"`
	Process       *specs.Process   `json:"process"`
	Seccomp       *compiledSeccomp `json:"seccomp,omitempty"`
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
		// The process is our grandchild (NsenterHelper forks): adopt it when
		// its parent exits so that we can wait for it.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("set child subreaper: %w", err)
		}
	}
	// NsenterHelper joins the namespaces and executes the runtime from exe
	// inside them: both run there, so both come from protected fds.
	exe, nsenter, err := protectedSelf(true)
	if err != nil {
		return -1, err
	}
	defer exe.Close()
	defer nsenter.Close()
	passed, err := passedExe(exe)
	if err != nil {
		return -1, err
	}
	defer passed.Close()
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
	exeFd := 3 + len(extra) // the helper makes it close-on-exec
	extra = append(extra, passed)
	cmd := &exec.Cmd{
		Path: "/proc/self/fd/" + strconv.Itoa(int(nsenter.Fd())),
		Args: []string{"runtime", ExecInitArg}, // the runtime's, passed on
		Env: []string{"_BERTH_NSENTER=" + strconv.Itoa(s.Pid), "_BERTH_EXE_FD=" + strconv.Itoa(exeFd),
			"GOMAXPROCS=1", "GOGC=off"},
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
	var pidMsg struct {
		Type string `json:"type"`
		Msg  string `json:"msg"`
		Pid  int    `json:"pid"`
	}
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
	if err := json.NewEncoder(parentSock).Encode(execConfig{ID: o.ID, Process: p, Seccomp: scmp, PreserveFds: o.PreserveFds, FdBase: fdBase,
		SeccompConnFd: seccompConnFd, HostPid: pid, Bundle: s.Bundle}); err != nil {
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

// ExecInit is the body of an exec'd process, already inside the container's
// namespaces (see NsenterHelper). It never returns.
func ExecInit() {
	runtimeLockOSThread()
	sync := os.NewFile(execSyncFd, "sync")
	enc := json.NewEncoder(sync)
	dec := json.NewDecoder(sync)
	warn := func(format string, a ...any) {
		_ = enc.Encode(syncMsg{Type: "warn", Msg: fmt.Sprintf(format, a...)})
	}
	fail := func(err error) {
		_ = enc.Encode(syncMsg{Type: "error", Msg: err.Error()})
		os.Exit(1)
	}
	if os.Getenv("_BERTH_NSENTER") != "" {
		// Not started by NsenterHelper (which drops the variable): we are
		// still on the host and must not run anything.
		fail(errors.New("exec: " + ExecInitArg + " was not started by " + NsenterHelper))
	}
	var cfg execConfig
	if err := dec.Decode(&cfg); err != nil {
		fail(fmt.Errorf("exec: read config: %w", err))
	}
	p := cfg.Process
	if p.Terminal {
		if err := setupConsole(execConsoleFd, true, p.ConsoleSize); err != nil {
			fail(err)
		}
	}
	for _, r := range p.Rlimits {
		res, ok := rlimitTypes[r.Type]
		if !ok {
			fail(fmt.Errorf("unknown rlimit %q", r.Type))
		}
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
			fail(fmt.Errorf("setrlimit %s: %w", r.Type, err))
		}
	}
	if p.OOMScoreAdj != nil {
		if err := setOOMScoreAdj(*p.OOMScoreAdj); err != nil {
			fail(err)
		}
	}
	sl := &seccompLoader{conn: cfg.SeccompConnFd}
	if cfg.Seccomp != nil {
		sl.state = processState(cfg.Seccomp, specs.State{Version: specs.Version, ID: cfg.ID, Status: Running,
			Pid: cfg.HostPid, Bundle: cfg.Bundle})
	}
	filter, err := loadSeccompEarly(cfg.Seccomp, p, sl)
	if err != nil {
		fail(err)
	}
	if err := setUserAndCaps(p, warn); err != nil {
		fail(err)
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fail(fmt.Errorf("set no_new_privs: %w", err))
		}
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if err := unix.Chdir(p.Cwd); err != nil {
		fail(fmt.Errorf("chdir to cwd %q in the container: %w", p.Cwd, err))
	}
	path, err := lookPath(p.Args[0], p.Env, p.Cwd)
	if err != nil {
		fail(err)
	}
	if err := enc.Encode(syncMsg{Type: "ready"}); err != nil {
		os.Exit(1)
	}
	sync.Close()
	if err := movePreservedFds(cfg.FdBase, cfg.PreserveFds); err != nil {
		fmt.Fprintf(os.Stderr, "berth exec: %v\n", err)
		os.Exit(1)
	}
	resetIgnoredSignals() // before the filter, as in Init
	if filter != nil {
		if err := sl.load(filter); err != nil {
			fmt.Fprintf(os.Stderr, "berth exec: %v\n", err)
			os.Exit(1)
		}
	}
	err = unix.Exec(path, p.Args, p.Env)
	fmt.Fprintf(os.Stderr, "berth exec: exec %s: %v\n", p.Args[0], err)
	os.Exit(127)
}
