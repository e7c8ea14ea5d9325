package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CreateOpts are the arguments of `create`.
type CreateOpts struct {
	Root          string
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	// SystemdCgroup has systemd make the cgroups (a transient unit, as
	// runc's --systemd-cgroup); cgroupsPath is then slice:prefix:name.
	SystemdCgroup bool
	// PreserveFds passes the caller's fds 3 .. 2+PreserveFds on to the
	// container process at the same numbers.
	PreserveFds int
	// Stdio of init when process.terminal is false; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
	// CallerReaps says the caller reaps every child of its process (the
	// shim, which runs the create in its own process: its reaper waits for
	// any child): create then never waits for a process it started, and
	// refuses, before it makes anything, a spec that would need it to
	// (ErrOwnProcess: hooks, namespaces joined before init's set-up).
	CallerReaps bool
}

// Created is a container left blocked on its exec fifo.
type CreatedContainer struct {
	State *State
	// Pid is the init process, a child of the caller (directly, or adopted
	// as its subreaper when the namespaces were joined early).
	Pid int
	// Wait waits for init to exit.
	Wait func() (unix.WaitStatus, error)
}

var cloneFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.MountNamespace: unix.CLONE_NEWNS,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.NetworkNamespace: unix.CLONE_NEWNET, specs.UserNamespace: unix.CLONE_NEWUSER,
	// cgroup: unshared by init once it is in its cgroups.
}

// Create sets up container o.ID from the bundle and leaves its init waiting
// for Start. The init is a direct child of the calling process.
func Create(o CreateOpts) (*CreatedContainer, error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	// Protecting the helper (an overlay mount, or a memfd copy) runs while
	// the spec is read, unless an init started ahead (exec'd from it
	// already) is waiting: then only a spec it does not fit needs it.
	exeCh := make(chan sealedExe, 1)
	protecting := false
	protect := func() {
		protecting = true
		go func() {
			f, err := protectedHelper()
			exeCh <- sealedExe{f, err}
		}()
	}
	if !initAheadWaiting() {
		protect()
	}
	exe := func() (*os.File, error) {
		if !protecting {
			protect()
		}
		r := <-exeCh
		exeCh <- sealedExe{}
		return r.f, r.err
	}
	defer func() {
		if !protecting {
			return
		}
		if r := <-exeCh; r.f != nil {
			r.f.Close()
		}
	}()
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	endLoad := Trace.Begin("load bundle")
	spec, rawSeccomp, err := loadBundleSpec(bundle)
	if err != nil {
		return nil, err
	}
	if err := validate(spec, bundle); err != nil {
		return nil, err
	}
	endLoad()
	if o.CallerReaps {
		if err := fitsCallerReaps(spec); err != nil {
			return nil, err
		}
	}
	endSeccomp := Trace.Begin("seccomp compile")
	scmp, err := compileSeccompCached(o.Root, rawSeccomp)
	endSeccomp()
	if err != nil {
		return nil, err
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		return nil, classErr(ErrInvalidArgument, "process.terminal is true but --console-socket was not given")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return nil, classErr(ErrInvalidArgument, "--console-socket given but process.terminal is false")
	}
	rootfsPath := spec.Root.Path
	if !filepath.IsAbs(rootfsPath) {
		rootfsPath = filepath.Join(bundle, rootfsPath)
	}
	if rootfsPath, err = filepath.EvalSymlinks(rootfsPath); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Root, o.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, classErr(ErrAlreadyExists, "container with id exists: %s", o.ID)
		}
		return nil, err
	}
	c := &creator{o: o, spec: spec, dir: dir, bundle: bundle, rootfs: rootfsPath, exe: exe,
		seccomp: scmp}
	created, err := c.create()
	if err != nil {
		c.cleanup()
		return nil, err
	}
	return created, nil
}

// fitsCallerReaps refuses, for a create whose caller reaps (CallerReaps),
// a spec for which this process would wait for a child of its own: the
// hooks it runs (prestart, createRuntime, poststart, poststop) and the
// helper that joins namespaces before init's set-up.
func fitsCallerReaps(s *specs.Spec) error {
	if h := s.Hooks; h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.Poststart)+len(h.Poststop) > 0 {
		return classErr(ErrOwnProcess, "the runtime's hooks need a runtime process of their own")
	}
	if joinsEarly(s) {
		return classErr(ErrOwnProcess, "namespaces joined before init's set-up need a runtime process of their own")
	}
	return nil
}

// InitSibling makes create start init as a child of the runtime's parent
// (CLONE_PARENT) rather than its own: a runtime that lives on after the
// create (a standby session, package standby) would otherwise keep init's
// exit from its caller, the shim, until it exits itself. The runtime can
// then not wait for init: when a create fails, the init it killed is
// reaped by the caller.
var InitSibling bool

type creator struct {
	o      CreateOpts
	spec   *specs.Spec
	dir    string
	bundle string
	rootfs string
	cg     *cgroups.Manager
	cmd    *exec.Cmd
	exe    func() (*os.File, error)
	// seccomp is linux.seccomp compiled (nil without it).
	seccomp *compiledSeccomp
	// initPid is init when it is not cmd's process (early namespace joins:
	// cmd's process forks init and exits).
	initPid int
}

type sealedExe struct {
	f   *os.File
	err error
}

func (c *creator) cleanup() {
	if c.initPid > 0 {
		_ = unix.Kill(c.initPid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(c.initPid, &ws, 0, nil)
	}
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		if c.o.CallerReaps {
			_ = c.cmd.Process.Release()
		} else {
			_, _ = c.cmd.Process.Wait()
		}
	}
	if c.cg != nil {
		_ = c.cg.Destroy()
	}
	_ = os.RemoveAll(c.dir)
}

func (c *creator) create() (*CreatedContainer, error) {
	spec := c.spec
	fifoPath := filepath.Join(c.dir, fifoName)
	// The mode is set apart from the mkfifo, not by clearing the umask
	// around it: the umask is the process's, and a process that runs the
	// create in its own (the shim) creates files in other goroutines.
	err := unix.Mkfifo(fifoPath, 0o600)
	if err == nil {
		err = unix.Chmod(fifoPath, 0o622)
	}
	if err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: fifoPath, Err: err}
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer fifo.Close()

	cgPath := ""
	if spec.Linux != nil {
		cgPath = spec.Linux.CgroupsPath
	}
	cgroups.Warnf = func(format string, a ...any) { Warnf(format, a...) }
	var cg *cgroups.Manager
	if c.o.SystemdCgroup {
		cg, err = cgroups.ResolveSystemd(cgPath, c.o.ID)
	} else {
		cg, err = cgroups.Resolve(cgPath, c.o.ID)
	}
	if err != nil {
		return nil, err
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer func() { parentSock.Close() }() // init's started ahead may replace it

	extra := []*os.File{childSock, fifo}
	if c.o.ConsoleSocket != "" {
		cf, err := dialUnix(c.o.ConsoleSocket)
		if err != nil {
			childSock.Close()
			return nil, fmt.Errorf("connect to console socket: %w", err)
		}
		defer cf.Close()
		extra = append(extra, cf)
	}
	seccompConnFd := 0
	if agent, err := dialSeccompAgent(c.seccomp); err != nil {
		childSock.Close()
		return nil, err
	} else if agent != nil {
		defer agent.Close()
		seccompConnFd = 3 + len(extra)
		extra = append(extra, agent)
	}
	fdBase := 3 + len(extra)
	extra = append(extra, preservedFiles(c.o.PreserveFds)...)

	attr := &syscall.SysProcAttr{Setsid: spec.Process.Terminal}
	userNS := false
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			attr.Cloneflags |= cloneFlags[ns.Type]
		}
		if ns.Type == specs.UserNamespace && ns.Path == "" {
			userNS = true
		}
	}
	if userNS {
		for _, m := range spec.Linux.UIDMappings {
			attr.UidMappings = append(attr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range spec.Linux.GIDMappings {
			attr.GidMappings = append(attr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		attr.GidMappingsEnableSetgroups = true
		// Become the namespace's root once the maps are written: the host root
		// we run as is unmapped there and would exec without capabilities.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	env := []string{} // not nil: that would pass on ours
	early := joinsEarly(spec)
	if early {
		// InitHelper joins and then unshares, so the new namespaces belong
		// to a joined user namespace, and forks into the pid and time
		// namespaces: init is then our grandchild. Adopt it.
		var join []string
		for _, ns := range spec.Linux.Namespaces {
			if ns.Path != "" && earlyJoin[ns.Type] != "" {
				join = append(join, earlyJoin[ns.Type]+"="+ns.Path)
			}
		}
		env = append(env, "_BERTH_JOIN="+strings.Join(join, "\n"), "_BERTH_UNSHARE="+strconv.Itoa(int(attr.Cloneflags)))
		attr.Cloneflags = 0
		// As a sibling, the helper is our caller's child, and init, once
		// the helper has exited, our caller's (a subreaper) too.
		if !InitSibling {
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
				return nil, fmt.Errorf("set child subreaper: %w", err)
			}
		}
	}
	if InitSibling {
		attr.Cloneflags |= unix.CLONE_PARENT
	}
	stdin, stdout, stderr := c.o.Stdin, c.o.Stdout, c.o.Stderr
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	c.cmd = &exec.Cmd{
		Path:        "", // the protected helper's, when no init started ahead is woken
		Args:        []string{InitHelper, "init"},
		Env:         env,
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  extra,
		SysProcAttr: attr,
	}
	parentJoined := parentJoins(spec, userNS, early)
	spawned := time.Now()
	if z, unshare := takeZygote(spec, 3+len(extra)-1, early || parentJoined); z != nil {
		endWake := Trace.Begin("init started ahead: hand-over")
		err := z.wake([3]*os.File{stdin, stdout, stderr}, extra[1:], unshare, attr.Setsid)
		endWake()
		if err == nil {
			childSock.Close()
			parentSock.Close()
			parentSock, c.cmd = z.sock, z.cmd
		} else {
			z.drop() // a fresh init instead
		}
	}
	if c.cmd.Process == nil {
		exe, err := c.exe()
		if err != nil {
			childSock.Close()
			c.cmd = nil
			return nil, err
		}
		defer exe.Close()
		c.cmd.Path = "/proc/self/fd/" + strconv.Itoa(int(exe.Fd()))
		endSpawn := Trace.Begin("spawn init")
		if parentJoined {
			err = startInNamespaces(c.cmd, spec)
		} else {
			err = c.cmd.Start()
		}
		endSpawn()
		childSock.Close()
		if err != nil {
			c.cmd = nil
			return nil, fmt.Errorf("start container init: %w", err)
		}
	}
	pid := c.cmd.Process.Pid
	dec := json.NewDecoder(parentSock)
	if early {
		var m syncMsg
		derr := dec.Decode(&m)
		_ = c.cmd.Wait()
		c.cmd = nil
		if derr != nil {
			return nil, fmt.Errorf("join namespaces: %w", derr)
		}
		if m.Type != "pid" || m.Pid <= 0 {
			return nil, fmt.Errorf("join namespaces: %s", m.Msg)
		}
		pid, c.initPid = m.Pid, m.Pid
	}
	hooks := spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0)
	// The plan goes first: init carries out what does not need its cgroups
	// (its namespaces, the mounts before the first cgroup mount) while they
	// are made below, and waits for them (initplan.AwaitCgroups), then
	// unshares its cgroup namespace.
	plan, err := initPlan(spec, initPlanArgs{
		ID: c.o.ID, Bundle: c.bundle, Rootfs: c.rootfs, Seccomp: c.seccomp, NoPivot: c.o.NoPivot,
		NoNewKeyring: c.o.NoNewKeyring, Cgroups: cg, Hooks: hooks,
		PreserveFds: c.o.PreserveFds, FdBase: fdBase, SeccompConnFd: seccompConnFd, HostPid: pid,
		ParentJoined: parentJoined, Trace: Trace != nil,
	})
	if err != nil {
		return nil, err
	}
	if err := sendPlan(parentSock, plan); err != nil {
		return nil, fmt.Errorf("send the plan to init: %w", c.initFailed(err))
	}
	// The cgroups are made only now, while init starts: the kernel makes
	// the first cgroup write after a quiet spell wait an RCU grace period
	// (see package cgroupprime, which the command line started), and cgroup
	// mkdir waits for it too. The limits are set once init reports ready,
	// as runc does, so that they constrain the container's process, not
	// init's set-up (its hooks, say).
	_, startTime, _ := procStat(pid)
	st := &State{
		State: specs.State{
			Version: specs.Version, ID: c.o.ID, Status: Creating, Pid: pid,
			Bundle: c.bundle, Annotations: spec.Annotations,
		},
		Rootfs: c.rootfs, Created: time.Now().UTC(), InitStartTime: startTime,
		Cgroups: cg, Hooks: spec.Hooks, dir: c.dir,
	}
	// Saved as creating before anything outlives this process: a create
	// killed from here on (its runtime process, or the shim that runs it)
	// leaves a state that `delete --force` finds, with the cgroups to
	// remove and init to kill, where it found only a directory.
	if err := st.save(); err != nil {
		return nil, err
	}
	endCgroups := Trace.Begin("cgroups create")
	c.cg = cg
	if err := c.cg.Create(nil); err != nil {
		return nil, c.initReport(dec, pid, fmt.Errorf("create cgroups: %w", err))
	}
	endCgroups()
	endApply := Trace.Begin("cgroups add init")
	if err := c.cg.ApplyInit(pid); err != nil {
		return nil, c.initReport(dec, pid, fmt.Errorf("put init into cgroups: %w", err))
	}
	endApply()
	failpoint.Hit("runtime-create-cgroups-made")
	if err := st.SetResources(spec.Linux.Resources); err != nil {
		return nil, err
	}
	// A failed write means init is gone: its report, or its end, is read
	// below.
	_, _ = parentSock.WriteString("cgroups\n")
	// For exec, which applies it too. Written while init sets up (a few
	// ms), not after its ready: the JSON and the file were 0.5 ms of the
	// create's path.
	if err := saveSeccomp(c.dir, c.seccomp); err != nil {
		return nil, err
	}
	for {
		var m syncMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("init exited without reporting")
			}
			return nil, c.initFailed(err)
		}
		switch m.Type {
		case "warn":
			Warnf("%s", m.Msg)
			continue
		case "error":
			return nil, fmt.Errorf("container init: %s", m.Msg)
		case "hooks":
			ps := st.State
			err := runHooks("prestart", spec.Hooks.Prestart, ps)
			if err == nil {
				err = runHooks("createRuntime", spec.Hooks.CreateRuntime, ps)
			}
			reply := "ack\n"
			if err != nil {
				reply = "error " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
			}
			if _, werr := parentSock.WriteString(reply); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				return nil, err
			}
			continue
		case "ready":
			addInitSpans(spawned, m.Spans)
		default:
			return nil, fmt.Errorf("unexpected message %q from init", m.Type)
		}
		break
	}
	endLimits := Trace.Begin("cgroups limits")
	if err := c.cg.Set(withDefaultDevices(spec)); err != nil {
		return nil, fmt.Errorf("apply cgroup limits: %w", err)
	}
	endLimits()
	st.Status = Created
	if err := st.save(); err != nil {
		return nil, err
	}
	if c.o.PidFile != "" {
		if err := writePidFile(c.o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	cc := &CreatedContainer{State: st, Pid: pid}
	if c.o.CallerReaps {
		cc.Wait = func() (unix.WaitStatus, error) {
			return 0, errors.New("init is reaped by the caller (CallerReaps)")
		}
		if c.cmd != nil {
			_ = c.cmd.Process.Release() // its pidfd
		}
	} else if cmd := c.cmd; cmd != nil {
		cc.Wait = func() (unix.WaitStatus, error) {
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return unix.WaitStatus(ee.Sys().(syscall.WaitStatus)), nil
			}
			return 0, err
		}
	} else {
		cc.Wait = func() (unix.WaitStatus, error) {
			var ws unix.WaitStatus
			for {
				_, err := unix.Wait4(pid, &ws, 0, nil)
				if err != unix.EINTR {
					return ws, err
				}
			}
		}
	}
	return cc, nil
}

// initReport is init's own error when it has already failed (it reports,
// then exits) while the parent made its cgroups: the parent's error then
// (a dead init cannot be put into cgroups) would hide the cause; else err.
func (c *creator) initReport(dec *json.Decoder, pid int, err error) error {
	if st, _, ok := procStat(pid); ok && st != 'Z' && st != 'X' {
		return err // init runs, waiting for its cgroups: reading would block
	}
	var m syncMsg
	if dec.Decode(&m) == nil && m.Type == "error" {
		return fmt.Errorf("container init: %s", m.Msg)
	}
	return err
}

// initFailed adds the init's exit status to err when it has died.
func (c *creator) initFailed(err error) error {
	if c.o.CallerReaps {
		return err // reaping init to learn its status would take it from the caller
	}
	var ws unix.WaitStatus
	if c.initPid > 0 {
		if pid, werr := unix.Wait4(c.initPid, &ws, unix.WNOHANG, nil); werr == nil && pid > 0 {
			c.initPid = 0
			return fmt.Errorf("%w (init %s)", err, describeWait(ws))
		}
		return err
	}
	if c.cmd == nil || c.cmd.Process == nil {
		return err
	}
	if pid, werr := unix.Wait4(c.cmd.Process.Pid, &ws, unix.WNOHANG, nil); werr == nil && pid > 0 {
		c.cmd.Process.Release()
		c.cmd = nil
		return fmt.Errorf("%w (init %s)", err, describeWait(ws))
	}
	return err
}

func describeWait(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// preservedFiles are the caller's fds 3 .. 2+n, to be passed to a child
// after the runtime's own fds.
func preservedFiles(n int) []*os.File {
	fs := make([]*os.File, 0, n)
	for i := 0; i < n; i++ {
		fs = append(fs, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	return fs
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return atomicfile.Replace(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// protectedHelper returns InitHelper, opened so that nothing can write to
// it through the fd (CVE-2019-5736: it runs inside the container, which
// sees it as /proc/1/exe until the execve): through a private read-only
// overlayfs of its directory, or else as a sealed memfd copy, at a high fd
// number.
func protectedHelper() (*os.File, error) {
	path, err := helperPath()
	if err != nil {
		return nil, err
	}
	if f, err := overlayHelper(path); err == nil {
		return f, nil
	}
	return sealedCopy(path, "berth-"+InitHelper)
}

// HelperDir is the directory of InitHelper; "" is the running binary's.
// A process that runs the runtime's commands in its own (the shim) sets it
// once, before its first, to the runtime binary's: the helper is the one
// installed with the runtime it stands for.
var HelperDir string

// helperPath is InitHelper's path in HelperDir (next to the running binary
// by default), or a clear error when it is missing.
func helperPath() (string, error) {
	dir := HelperDir
	if dir == "" {
		self, err := os.Readlink("/proc/self/exe")
		if err != nil {
			return "", err
		}
		dir = filepath.Dir(strings.TrimSuffix(self, " (deleted)"))
	}
	p := filepath.Join(dir, InitHelper)
	fi, err := os.Stat(p)
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		return "", fmt.Errorf("%s, the container side of the runtime, must be installed next to the runtime binary (make build): %w", InitHelper, err)
	}
	return p, nil
}

// overlayHelper opens the helper through a detached overlayfs mount of its
// directory with no upper layer: the superblock is read-only whatever is
// done to the mount, so opening the file for writing fails with EROFS even
// for a container holding CAP_SYS_ADMIN. It costs a mount (well under a
// millisecond) where the memfd copy reads the whole binary. The mount is in
// no namespace and goes away with the last fd. An overlay without an upper
// layer needs two lower layers that do not overlap: the second is an empty
// detached tmpfs. Needs CAP_SYS_ADMIN and Linux 6.8 ("lowerdir+").
func overlayHelper(path string) (*os.File, error) {
	empty, err := detachedMount("tmpfs", unix.MOUNT_ATTR_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fsfd)
	for _, l := range []string{filepath.Dir(path), "/proc/self/fd/" + strconv.Itoa(empty)} {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			return nil, fmt.Errorf("overlay lowerdir %s: %w", l, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, err
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	// Not through a symlink, which could lead out of the read-only mount
	// (a symlinked helper is copied to a memfd instead).
	fd, err := unix.Openat(mnt, filepath.Base(path), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New(InitHelper + " is not a regular file")
	}
	return highFile(fd, "overlay:berth-"+InitHelper)
}

// highFile returns a close-on-exec duplicate of fd numbered 100 or more, so
// that exec.Cmd's fd shuffling in the child cannot overwrite it.
func highFile(fd int, name string) (*os.File, error) {
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(high), name), nil
}

// detachedMount mounts a new instance of fstype in no namespace and returns
// the mount's fd.
func detachedMount(fstype string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
}

// sealedCopy returns a sealed memfd copy of the file at path.
func sealedCopy(path, name string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:"+name)
	defer mem.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	if err := copyFile(fd, int(src.Fd()), fi.Size()); err != nil {
		return nil, fmt.Errorf("copy %s to memfd: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return highFile(fd, "memfd:"+name)
}

func copyFile(dst, src int, size int64) error {
	var off int64
	for off < size {
		n, err := unix.Sendfile(dst, src, &off, int(size-off))
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// withDefaultDevices returns the resources with device cgroup rules allowing
// the devices every container gets (and those of linux.devices) appended, as
// runc does: a spec that denies all devices still has /dev/null.
func withDefaultDevices(spec *specs.Spec) *specs.LinuxResources {
	var r specs.LinuxResources
	if spec.Linux.Resources != nil {
		r = *spec.Linux.Resources
	}
	r.Devices = append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	i := func(v int64) *int64 { return &v }
	allow := func(t string, maj, min *int64, access string) {
		r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: maj, Minor: min, Access: access})
	}
	allow("c", nil, nil, "m")
	allow("b", nil, nil, "m")
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}} {
		allow("c", i(d[0]), i(d[1]), "rwm")
	}
	allow("c", i(136), nil, "rwm")
	allow("c", i(10), i(200), "rwm")
	for _, d := range spec.Linux.Devices {
		t := d.Type
		if t == "p" {
			continue // a FIFO needs no device cgroup rule (v1 refuses one)
		}
		if t == "u" {
			t = "c"
		}
		allow(t, i(d.Major), i(d.Minor), "rwm")
	}
	return &r
}

// dialUnix connects to a unix stream socket without the net package (which
// would pull cgo's resolver into the binary).
func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
