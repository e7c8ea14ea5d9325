package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthd/berth/pkg/runtime/caps"
	"github.com/berthd/berth/pkg/runtime/cgroups"
	"github.com/berthd/berth/pkg/runtime/rootfs"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The file descriptors the parent hands to init.
const (
	initSyncFd    = 3 // socket: config in, progress out
	initFifoFd    = 4 // exec fifo, O_PATH
	initConsoleFd = 5 // connection to --console-socket, if any
)

// InitArg is argv[1] of the re-executed runtime that becomes container init.
const InitArg = "init"

type initConfig struct {
	ID     string    `json:"id"`
	Bundle string    `json:"bundle"`
	Rootfs string    `json:"rootfs"`
	Spec   *initSpec `json:"spec"` // what init uses; linux.seccomp: see Seccomp
	// Seccomp is linux.seccomp, compiled by the parent.
	Seccomp      *compiledSeccomp `json:"seccomp,omitempty"`
	NoPivot      bool             `json:"noPivot,omitempty"`
	NoNewKeyring bool             `json:"noNewKeyring,omitempty"`
	Console      bool             `json:"console,omitempty"`
	Cgroups      *cgroups.Manager `json:"cgroups,omitempty"`
	// Hooks tells init to stop before pivot_root so the parent can run the
	// prestart and createRuntime hooks.
	Hooks bool `json:"hooks,omitempty"`
	// PreserveFds fds start at FdBase in init and go to 3.. in the container.
	PreserveFds int `json:"preserveFds,omitempty"`
	FdBase      int `json:"fdBase,omitempty"`
	// SeccompConnFd is init's fd of the connection to the seccomp agent
	// (listenerPath); HostPid is init's pid as the runtime sees it.
	SeccompConnFd int `json:"seccompConnFd,omitempty"`
	HostPid       int `json:"hostPid,omitempty"`
	// ParentJoined: the parent joined the namespaces given by path that
	// init would join itself (see parentJoins).
	ParentJoined bool `json:"parentJoined,omitempty"`
	// Trace: record spans and keep the exec fifo open until the execve.
	Trace bool `json:"trace,omitempty"`
}

type syncMsg struct {
	Type string `json:"type"` // hooks, ack, warn, ready, error
	Msg  string `json:"msg,omitempty"`
	// Spans are init's trace spans, on "ready" when the create is traced.
	Spans []string `json:"spans,omitempty"`
}

// Init is the body of the container's init process. It never returns: it
// either execs the container process or reports an error and exits.
func Init() {
	runtime.LockOSThread()
	entered := time.Now()
	sync := os.NewFile(initSyncFd, "sync")
	enc := json.NewEncoder(sync)
	dec := json.NewDecoder(sync)
	warn := func(format string, a ...any) {
		_ = enc.Encode(syncMsg{Type: "warn", Msg: fmt.Sprintf(format, a...)})
	}
	fail := func(err error) {
		_ = enc.Encode(syncMsg{Type: "error", Msg: err.Error()})
		os.Exit(1)
	}
	if os.Getenv("_BERTH_JOIN") != "" {
		// Not started by NsenterHelper (which drops the variable): we are
		// not in the namespaces the config names and must not go on.
		fail(errors.New("init: joining user, pid, time or mount namespaces by path: not started by " + NsenterHelper))
	}
	var cfg initConfig
	if err := dec.Decode(&cfg); err != nil {
		fail(fmt.Errorf("init: read config: %w", err))
	}
	if cfg.Spec == nil {
		fail(errors.New("init: read config: no spec"))
	}
	s := cfg.Spec.spec()
	hostProc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail(fmt.Errorf("open /proc: %w", err))
	}
	sl := &seccompLoader{conn: cfg.SeccompConnFd}
	if cfg.Seccomp != nil {
		sl.state = processState(cfg.Seccomp, specs.State{Version: specs.Version, ID: cfg.ID, Status: Creating,
			Pid: cfg.HostPid, Bundle: cfg.Bundle, Annotations: s.Annotations})
	}
	it := newInitTrace(cfg.Trace)
	// From main to the config decoded: what init waits for the parent (which
	// sends once init is in its cgroups) and what decoding costs.
	it.record("read config", entered)
	endSetup := it.begin("setup")
	filter, err := setupContainer(&cfg, s, enc, dec, warn, sl, it)
	if err != nil {
		fail(err)
	}
	endSetup()
	p := s.Process
	env := p.Env
	path, err := lookPath(p.Args[0], env, p.Cwd)
	if err != nil {
		fail(err)
	}
	if err := enc.Encode(syncMsg{Type: "ready", Spans: it.encoded()}); err != nil {
		os.Exit(1)
	}
	sync.Close()

	// Wait for `start`: opening the fifo for writing blocks until it is opened
	// for reading. The fd was opened O_PATH on the host before pivot_root; it
	// is reopened through the host's procfs, which the container cannot see.
	fifo, err := unix.Openat(hostProc, "self/fd/"+strconv.Itoa(initFifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth init: open exec fifo: %v\n", err)
		os.Exit(1)
	}
	if _, err := unix.Write(fifo, []byte{0}); err != nil {
		fmt.Fprintf(os.Stderr, "berth init: write exec fifo: %v\n", err)
		os.Exit(1)
	}
	if !cfg.Trace {
		unix.Close(fifo) // traced, its close-on-exec end tells start of the execve
	}
	unix.Close(hostProc)
	unix.Close(initFifoFd)
	if err := movePreservedFds(cfg.FdBase, cfg.PreserveFds); err != nil {
		fmt.Fprintf(os.Stderr, "berth init: %v\n", err)
		os.Exit(1)
	}
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		st := specs.State{Version: specs.Version, ID: cfg.ID, Status: Running, Pid: os.Getpid(), Bundle: cfg.Bundle, Annotations: s.Annotations}
		if err := runHooks("startContainer", s.Hooks.StartContainer, st); err != nil {
			fmt.Fprintf(os.Stderr, "berth init: %v\n", err)
			os.Exit(1)
		}
	}
	// Before the filter: the container's profile need not allow
	// rt_sigaction.
	resetIgnoredSignals()
	if filter != nil {
		// As late as possible, so the profile need not allow what init does.
		if err := sl.load(filter); err != nil {
			fmt.Fprintf(os.Stderr, "berth init: %v\n", err)
			os.Exit(1)
		}
	}
	err = unix.Exec(path, p.Args, env)
	fmt.Fprintf(os.Stderr, "berth init: exec %s: %v\n", p.Args[0], err)
	os.Exit(127)
}

// setupContainer does everything up to the exec fifo wait. It returns the
// seccomp filter still to be loaded just before execve (nil: none, or
// already loaded).
func setupContainer(cfg *initConfig, s *specs.Spec, enc *json.Encoder, dec *json.Decoder, warn func(string, ...any), sl *seccompLoader, it *initTrace) (*seccomp.Filter, error) {
	newNS := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			newNS[ns.Type] = true
			continue
		}
		if earlyJoin[ns.Type] != "" {
			continue // joined by NsenterHelper
		}
		if cfg.ParentJoined {
			continue // init was started in them
		}
		if err := joinNamespace(ns); err != nil {
			return nil, err
		}
	}
	// A new time namespace applies to the children of the unsharing thread
	// and, on execve, to the thread itself; its offsets can only be set
	// before any process is in it.
	if newNS[specs.TimeNamespace] {
		if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
			return nil, fmt.Errorf("unshare time namespace: %w", err)
		}
		for clock, off := range s.Linux.TimeOffsets {
			line := fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs)
			if err := os.WriteFile("/proc/self/timens_offsets", []byte(line), 0); err != nil {
				return nil, fmt.Errorf("time namespace offset %q: %w", line, err)
			}
		}
	}
	// The cgroup namespace is made here, after the parent has put us into our
	// cgroups, so that its root is the container's cgroup.
	if newNS[specs.CgroupNamespace] {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return nil, fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if !cfg.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
			warn("join session keyring: %v", err)
		}
	}
	for k, v := range s.Linux.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return nil, fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	var cgPaths map[string]string
	var cgV2 string
	if cfg.Cgroups != nil {
		cgPaths, cgV2 = cfg.Cgroups.V1, cfg.Cgroups.V2
	}
	opts := rootfs.Options{
		Rootfs: cfg.Rootfs, NoPivot: cfg.NoPivot, CgroupPaths: cgPaths, CgroupV2: cgV2,
		UserNS: newNS[specs.UserNamespace] || joined(s, specs.UserNamespace), CgroupNS: newNS[specs.CgroupNamespace], Warnf: warn,
	}
	endMounts := it.begin("mounts")
	opts.BeforePivot = func() error {
		endMounts()
		if cfg.Hooks {
			if err := enc.Encode(syncMsg{Type: "hooks"}); err != nil {
				return err
			}
			var m syncMsg
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("wait for hooks: %w", err)
			}
			if m.Type != "ack" {
				return fmt.Errorf("hooks failed: %s", m.Msg)
			}
		}
		if s.Hooks != nil && len(s.Hooks.CreateContainer) > 0 {
			st := specs.State{Version: specs.Version, ID: cfg.ID, Status: Creating, Pid: os.Getpid(), Bundle: cfg.Bundle, Annotations: s.Annotations}
			return runHooks("createContainer", s.Hooks.CreateContainer, st)
		}
		return nil
	}
	endRootfs := it.begin("rootfs")
	switch {
	case newNS[specs.MountNamespace]:
		if err := rootfs.Setup(s, opts); err != nil {
			return nil, err
		}
	case joined(s, specs.MountNamespace):
		// As runc: the bundle's rootfs is set up and pivoted into inside the
		// joined namespace, which changes that namespace for everyone in it.
		// The rootfs must be reachable there (a pinned namespace whose root
		// is the host's, not another container's).
		if _, err := os.Stat(cfg.Rootfs); err != nil {
			return nil, fmt.Errorf("rootfs %s is not reachable in the joined mount namespace %s: %w", cfg.Rootfs, nsPath(s, specs.MountNamespace), err)
		}
		if err := rootfs.Setup(s, opts); err != nil {
			return nil, err
		}
	default:
		if err := rootfs.Chroot(s, opts); err != nil {
			return nil, err
		}
	}
	endRootfs()
	if newNS[specs.UTSNamespace] || joined(s, specs.UTSNamespace) {
		if s.Hostname != "" {
			if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
				return nil, fmt.Errorf("sethostname: %w", err)
			}
		}
		if s.Domainname != "" {
			if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
				return nil, fmt.Errorf("setdomainname: %w", err)
			}
		}
	}
	p := s.Process
	if p.Terminal {
		if err := setupConsole(initConsoleFd, false, p.ConsoleSize); err != nil {
			return nil, err
		}
	}
	for _, r := range p.Rlimits {
		res, ok := rlimitTypes[r.Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %q", r.Type)
		}
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
			return nil, fmt.Errorf("setrlimit %s: %w", r.Type, err)
		}
	}
	if p.OOMScoreAdj != nil {
		if err := setOOMScoreAdj(*p.OOMScoreAdj); err != nil {
			return nil, err
		}
	}
	endSeccomp := it.begin("seccomp")
	filter, err := loadSeccompEarly(cfg.Seccomp, p, sl)
	if err != nil {
		return nil, err
	}
	endSeccomp()
	endCaps := it.begin("user and capabilities")
	if err := setUserAndCaps(p, warn); err != nil {
		return nil, err
	}
	endCaps()
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if err := unix.Chdir(p.Cwd); err != nil {
		return nil, fmt.Errorf("chdir to cwd %q in the container: %w", p.Cwd, err)
	}
	return filter, nil
}

// loadSeccompEarly takes the container's compiled filter. Without
// no_new_privs, seccomp(2) needs CAP_SYS_ADMIN, so the filter is loaded now,
// before the capabilities are dropped (as runc does); otherwise it is
// returned to be loaded just before execve.
func loadSeccompEarly(sc *compiledSeccomp, p *specs.Process, sl *seccompLoader) (*seccomp.Filter, error) {
	if sc == nil {
		return nil, nil
	}
	f := sc.Filter
	if p.NoNewPrivileges {
		return f, nil
	}
	if err := sl.load(f); err != nil {
		return nil, err
	}
	return nil, nil
}

func joined(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t && ns.Path != "" {
			return true
		}
	}
	return false
}

func nsPath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

var nsFlags = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
}

// joinNamespace enters an existing namespace with the calling (locked)
// thread; execve keeps that thread's namespaces.
func joinNamespace(ns specs.LinuxNamespace) error {
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s namespace: %w", ns.Type, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, nsFlags[ns.Type]); err != nil {
		return fmt.Errorf("join %s namespace %s: %w", ns.Type, ns.Path, err)
	}
	return nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setOOMScoreAdj writes oom_score_adj unless it already has the value. A
// failure (lowering it needs CAP_SYS_RESOURCE) is an error, as in runc.
func setOOMScoreAdj(v int) error {
	cur, err := os.ReadFile("/proc/self/oom_score_adj")
	if err == nil && strings.TrimSpace(string(cur)) == strconv.Itoa(v) {
		return nil
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(v)), 0); err != nil {
		return fmt.Errorf("set oom_score_adj to %d: %w", v, err)
	}
	return nil
}

func runtimeLockOSThread() { runtime.LockOSThread() }

func capsFromSpec(c *specs.LinuxCapabilities) (caps.Sets, error) { return caps.FromSpec(c) }

// setUserAndCaps switches to process.user and applies the capability sets,
// all on the calling thread, which is the one that will execve.
func setUserAndCaps(p *specs.Process, warn func(string, ...any)) error {
	want, err := caps.FromSpec(p.Capabilities)
	if err != nil {
		return err
	}
	avail, err := caps.Available()
	if err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	want, missing := caps.Restrict(want, avail)
	for _, m := range missing {
		warn("capability %s cannot be granted (not in the runtime's bounding set); dropped", m)
	}
	if err := caps.DropBounding(want.Bounding); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	u := p.User
	gids := make([]uint32, 0, len(u.AdditionalGids))
	gids = append(gids, u.AdditionalGids...)
	if err := setgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	if err := caps.Apply(want, warn); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	return nil
}

func setgroups(gids []uint32) error {
	var p uintptr
	if len(gids) > 0 {
		p = uintptr(unsafePointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 {
		// In a user namespace with setgroups denied and no extra groups, that is fine.
		if e == unix.EPERM && len(gids) == 0 {
			return nil
		}
		return e
	}
	return nil
}

// lookPath resolves name through PATH of the container environment, inside
// the container (we are already chrooted/pivoted).
func lookPath(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return syscall.EISDIR
	}
	if fi.Mode()&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}

// closeExtraFds marks every fd >= 3 close-on-exec so nothing of the host
// (CVE-2024-21626) reaches the container process.
func closeExtraFds(from int) error {
	if err := unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("cannot mark fds close-on-exec: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < from {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

var _ = exec.ErrNotFound
