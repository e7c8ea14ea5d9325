package container

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/berthd/berth/pkg/runtime/caps"
	"github.com/berthd/berth/pkg/runtime/cgroups"
	"github.com/berthd/berth/pkg/runtime/initplan"
	"github.com/berthd/berth/pkg/runtime/rootfs"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// InitHelper is the container side of the runtime: the program that
// becomes a container's init or an exec'd process and sets it up from
// inside, as planned here (cmd/runtime-init, a static C program installed
// next to the runtime binary; package initplan). It also joins namespaces
// by path, which a multi-threaded Go process cannot.
const InitHelper = "runtime-init"

// The file descriptors the runtime hands to init.
const (
	initSyncFd    = 3 // socket: plan in, progress out
	initFifoFd    = 4 // exec fifo, O_PATH
	initConsoleFd = 5 // connection to --console-socket, if any
)

// The file descriptors the runtime hands to an exec'd process.
const (
	execSyncFd    = 3
	execConsoleFd = 4
)

// syncMsg is what init and exec'd processes report on the sync socket.
type syncMsg struct {
	Type string `json:"type"` // hooks, warn, ready, error, pid
	Msg  string `json:"msg,omitempty"`
	Pid  int    `json:"pid,omitempty"`
	// Spans are init's trace spans, on "ready" when the create is traced.
	Spans []string `json:"spans,omitempty"`
}

// initPlanArgs is what the plan of a container's init depends on besides
// the spec.
type initPlanArgs struct {
	ID, Bundle, Rootfs  string
	Seccomp             *compiledSeccomp
	NoPivot             bool
	NoNewKeyring        bool
	Cgroups             *cgroups.Manager
	Hooks               bool // prestart/createRuntime hooks: stop before pivot_root
	PreserveFds, FdBase int
	SeccompConnFd       int
	HostPid             int
	ParentJoined        bool
	Trace               bool
}

// initPlan is what the container's init does, from joining the namespaces
// it joins itself to the execve of the container's process.
func initPlan(s *specs.Spec, a initPlanArgs) (*initplan.Plan, error) {
	p := &initplan.Plan{}
	span := func(name string, end int) {
		if a.Trace {
			p.Add(initplan.Span, 0, name, end)
		}
	}
	// From its main to here: its start-up and the wait for the parent,
	// which sends the plan once init is in its cgroups.
	span("read config", 2)
	span("setup", 0)
	// The exec fifo is reopened through the host's /proc after pivot_root.
	p.Add(initplan.OpenProc, 0)
	newNS := map[specs.LinuxNamespaceType]bool{}
	joinsByPath := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			newNS[ns.Type] = true
			continue
		}
		joinsByPath = true // whoever joins it: shared with others
		if earlyJoin[ns.Type] != "" || a.ParentJoined {
			continue // joined by InitHelper before the plan, or by the parent
		}
		p.Add(initplan.Setns, 0, ns.Path, nsFlags[ns.Type], string(ns.Type))
	}
	// A new time namespace applies to the children of the unsharing thread
	// and, on execve, to the thread itself; its offsets can only be set
	// before any process is in it.
	if newNS[specs.TimeNamespace] {
		p.Add(initplan.Unshare, 0, unix.CLONE_NEWTIME, "time")
		for _, clock := range sortedKeys(s.Linux.TimeOffsets) {
			off := s.Linux.TimeOffsets[clock]
			line := fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs)
			p.Add(initplan.Write, 0, "/proc/self/timens_offsets", line, fmt.Sprintf("time namespace offset %q", line))
		}
	}
	// The parent sends the plan before it makes the cgroups: init waits for
	// them only where it needs them, before the first cgroup mount (or at
	// the end of its mounts), and makes its cgroup namespace then, so that
	// its root is the container's cgroup.
	inCgroups := false
	var sysctlsAfterCgroups bool
	writeSysctls := func(p *initplan.Plan) {
		for _, k := range sortedKeys(s.Linux.Sysctl) {
			v := s.Linux.Sysctl[k]
			p.Add(initplan.Write, 0, "/proc/sys/"+strings.ReplaceAll(k, ".", "/"), v, fmt.Sprintf("sysctl %s=%s", k, v))
		}
	}
	awaitCgroups := func(p *initplan.Plan) {
		if inCgroups {
			return
		}
		inCgroups = true
		p.Add(initplan.AwaitCgroups, 0)
		if newNS[specs.CgroupNamespace] {
			p.Add(initplan.Unshare, 0, unix.CLONE_NEWCGROUP, "cgroup")
		}
		if sysctlsAfterCgroups {
			writeSysctls(p)
		}
	}
	// A new network namespace starts with lo down; runc and crun bring it
	// up (and dockerd's --network none has it up): a program that listens
	// on or connects to 127.0.0.1 needs it.
	if newNS[specs.NetworkNamespace] {
		p.Add(initplan.LoopbackUp, 0)
	}
	if !a.NoNewKeyring {
		p.Add(initplan.Keyring, 0, "_ses."+a.ID)
	}
	// Sysctls in a namespace joined by path change it for everyone in it: not
	// before init knows its cgroups are made, so that a create failing
	// there leaves the joined namespaces as they were. They are written
	// right after the wait (always before the pivot or chroot: every path
	// to awaitCgroups below is, so /proc is still the one the namespace
	// ops above left), and the mounts before it still overlap the cgroups'
	// making: dockerd's two network sysctls come with every container on
	// a network the engine wires, whose namespace is joined by path.
	if len(s.Linux.Sysctl) > 0 && joinsByPath {
		sysctlsAfterCgroups = true
	} else {
		writeSysctls(p)
	}
	userNS := newNS[specs.UserNamespace] || joined(s, specs.UserNamespace)
	o := rootfs.Options{Rootfs: a.Rootfs, NoPivot: a.NoPivot, UserNS: userNS, CgroupNS: newNS[specs.CgroupNamespace], BeforeCgroup: awaitCgroups}
	if a.Cgroups != nil {
		o.CgroupPaths, o.CgroupV2 = a.Cgroups.V1, a.Cgroups.V2
	}
	span("mounts", 0)
	o.BeforePivot = func(p *initplan.Plan) error {
		awaitCgroups(p) // before the hooks: they see the container in its cgroups
		span("mounts", 1)
		if a.Hooks {
			p.Add(initplan.HookSync, 0)
		}
		if s.Hooks != nil && len(s.Hooks.CreateContainer) > 0 {
			st := specs.State{Version: specs.Version, ID: a.ID, Status: Creating, Pid: a.HostPid, Bundle: a.Bundle, Annotations: s.Annotations}
			return planHooks(p, "createContainer", s.Hooks.CreateContainer, st)
		}
		return nil
	}
	span("rootfs", 0)
	switch {
	case newNS[specs.MountNamespace]:
		if err := rootfs.Plan(p, s, o); err != nil {
			return nil, err
		}
	case joined(s, specs.MountNamespace):
		awaitCgroups(p) // its mounts are everyone's in that namespace
		// As runc: the bundle's rootfs is set up and pivoted into inside the
		// joined namespace, which changes that namespace for everyone in it.
		// The rootfs must be reachable there (a pinned namespace whose root
		// is the host's, not another container's).
		p.Add(initplan.StatRootfs, 0, a.Rootfs, fmt.Sprintf("rootfs %s is not reachable in the joined mount namespace %s", a.Rootfs, nsPath(s, specs.MountNamespace)))
		if err := rootfs.Plan(p, s, o); err != nil {
			return nil, err
		}
	default:
		if err := rootfs.PlanChroot(p, s, o); err != nil {
			return nil, err
		}
	}
	span("rootfs", 1)
	awaitCgroups(p) // without a mount namespace, or a pivot, of its own
	if newNS[specs.UTSNamespace] || joined(s, specs.UTSNamespace) {
		if s.Hostname != "" {
			p.Add(initplan.Sethostname, 0, s.Hostname)
		}
		if s.Domainname != "" {
			p.Add(initplan.Setdomainname, 0, s.Domainname)
		}
	}
	state := specs.State{Version: specs.Version, ID: a.ID, Status: Creating, Pid: a.HostPid, Bundle: a.Bundle, Annotations: s.Annotations}
	pp := processPlan{proc: s.Process, userNS: userNS, seccomp: a.Seccomp, seccompState: state, seccompConnFd: a.SeccompConnFd,
		consoleFd: initConsoleFd, fdBase: a.FdBase, preserveFds: a.PreserveFds, prefix: "berth init"}
	endSetup := func() { span("setup", 1) }
	pp.afterReady = func(p *initplan.Plan) error {
		p.Add(initplan.Fifo, 0, a.Trace)
		return nil
	}
	pp.beforeExec = func(p *initplan.Plan) error {
		if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
			st := specs.State{Version: specs.Version, ID: a.ID, Status: Running, Pid: a.HostPid, Bundle: a.Bundle, Annotations: s.Annotations}
			return planHooks(p, "startContainer", s.Hooks.StartContainer, st)
		}
		return nil
	}
	if err := pp.add(p, span, endSetup); err != nil {
		return nil, err
	}
	return p, nil
}

// execPlan is what a process exec'd into a container does once inside its
// namespaces.
func execPlan(proc *specs.Process, userNS bool, sc *compiledSeccomp, state specs.State, seccompConnFd, fdBase, preserveFds int) (*initplan.Plan, error) {
	p := &initplan.Plan{}
	pp := processPlan{proc: proc, userNS: userNS, seccomp: sc, seccompState: state, seccompConnFd: seccompConnFd,
		consoleFd: execConsoleFd, setsid: true, fdBase: fdBase, preserveFds: preserveFds, prefix: "berth exec"}
	if err := pp.add(p, func(string, int) {}, func() {}); err != nil {
		return nil, err
	}
	return p, nil
}

// processPlan is the part init and exec'd processes share: the process's
// console, limits, seccomp filter, user and capabilities, and its execve.
type processPlan struct {
	proc                *specs.Process
	userNS              bool
	seccomp             *compiledSeccomp
	seccompState        specs.State
	seccompConnFd       int
	consoleFd           int
	setsid              bool
	fdBase, preserveFds int
	prefix              string
	afterReady          func(*initplan.Plan) error
	beforeExec          func(*initplan.Plan) error
}

func (pp *processPlan) add(p *initplan.Plan, span func(string, int), endSetup func()) error {
	pr := pp.proc
	if pr.Terminal {
		w, h := 0, 0
		if pr.ConsoleSize != nil {
			w, h = int(pr.ConsoleSize.Width), int(pr.ConsoleSize.Height)
		}
		p.Add(initplan.Console, 0, pp.consoleFd, pp.setsid, w, h)
	}
	for _, r := range pr.Rlimits {
		res, ok := rlimitTypes[r.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", r.Type)
		}
		p.Add(initplan.Rlimit, 0, res, r.Soft, r.Hard, r.Type)
	}
	if pr.OOMScoreAdj != nil {
		p.Add(initplan.OOMScoreAdj, 0, *pr.OOMScoreAdj)
	}
	var filter []any
	if sc := pp.seccomp; sc != nil {
		prog := seccomp.ProgBytes(sc.Filter.Prog)
		st, err := json.Marshal(processState(sc, pp.seccompState))
		if err != nil {
			return err
		}
		filter = []any{prog, sc.Filter.Flags, sc.Filter.Notify, string(st), pp.seccompConnFd}
	}
	// Without no_new_privs, seccomp(2) needs CAP_SYS_ADMIN, so the filter
	// is loaded before the capabilities are dropped (as runc does);
	// otherwise as late as possible, so the profile need not allow what
	// the set-up does.
	span("seccomp", 0)
	if filter != nil && !pr.NoNewPrivileges {
		p.Add(initplan.Seccomp, 0, filter...)
	}
	span("seccomp", 1)
	span("user and capabilities", 0)
	if err := addCapsUser(p, pr, pp.userNS); err != nil {
		return err
	}
	span("user and capabilities", 1)
	if pr.NoNewPrivileges {
		p.Add(initplan.NoNewPrivs, 0)
	}
	umask := 0o022
	if pr.User.Umask != nil {
		umask = int(*pr.User.Umask)
	}
	p.Add(initplan.Umask, 0, umask)
	p.Add(initplan.Chdir, 0, pr.Cwd)
	endSetup()
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range pr.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	if len(pr.Args) == 0 {
		return invalid("process.args is empty")
	}
	p.Add(initplan.LookPath, 0, pr.Args[0], pathEnv, pr.Cwd)
	p.Add(initplan.Ready, 0, pp.prefix)
	if pp.afterReady != nil {
		if err := pp.afterReady(p); err != nil {
			return err
		}
	}
	p.Add(initplan.MoveFds, 0, pp.fdBase, pp.preserveFds)
	if pp.beforeExec != nil {
		if err := pp.beforeExec(p); err != nil {
			return err
		}
	}
	// Before the filter: the profile need not allow rt_sigaction.
	p.Add(initplan.ResetSignals, 0)
	if filter != nil && pr.NoNewPrivileges {
		p.Add(initplan.Seccomp, 0, filter...)
	}
	env := pr.Env
	if env == nil {
		env = []string{}
	}
	p.Add(initplan.Exec, 0, pr.Args, env)
	return nil
}

// addCapsUser plans the switch to process.user with the capability sets.
// What the process can be granted is what it will hold when it switches:
// every capability in a user namespace of its own or joined, else ours
// (it is our child); the others are dropped with a warning, as runc does.
func addCapsUser(p *initplan.Plan, pr *specs.Process, userNS bool) error {
	want, err := caps.FromSpec(pr.Capabilities)
	if err != nil {
		return err
	}
	last := caps.LastCap()
	var avail caps.Set
	if userNS {
		avail = ^caps.Set(0)
		if last < 63 {
			avail = caps.Set(1)<<uint(last+1) - 1
		}
	} else if avail, err = caps.Available(); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	want, missing := caps.Restrict(want, avail)
	for _, m := range missing {
		Warnf("capability %s cannot be granted (not in the runtime's bounding set); dropped", m)
	}
	gids := make([]string, 0, len(pr.User.AdditionalGids))
	for _, g := range pr.User.AdditionalGids {
		gids = append(gids, strconv.FormatUint(uint64(g), 10))
	}
	p.Add(initplan.CapsUser, 0, uint64(want.Bounding), uint64(want.Effective), uint64(want.Permitted), uint64(want.Inheritable),
		uint64(want.Ambient), pr.User.UID, pr.User.GID, gids, last, caps.Names())
	return nil
}

// planHooks plans hooks run by init inside the container, in order with
// the state on stdin; the first failure stops.
func planHooks(p *initplan.Plan, kind string, hooks []specs.Hook, st specs.State) error {
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		timeout := 0
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return fmt.Errorf("%s hook %s: timeout must be positive, got %d", kind, h.Path, *h.Timeout)
			}
			timeout = *h.Timeout
		}
		args, env := h.Args, h.Env
		if args == nil {
			args = []string{}
		}
		if env == nil {
			env = []string{}
		}
		p.Add(initplan.Hook, 0, kind, h.Path, args, env, timeout, string(in))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sendPlan writes the plan to init or the exec'd process.
func sendPlan(f *os.File, p *initplan.Plan) error {
	b, err := p.Encode()
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return err
}
