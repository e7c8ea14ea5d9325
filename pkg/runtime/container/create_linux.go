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
	"syscall"
	"time"

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
	// Stdio of init when process.terminal is false; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
}

// Created is a container left blocked on its exec fifo.
type CreatedContainer struct {
	State *State
	// Cmd is the init process; its parent (the caller) may Wait on it.
	Cmd *exec.Cmd
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
	// The sealed copy of the binary takes a few ms: make it while the spec
	// is read and the cgroups are made.
	exeCh := make(chan sealedExe, 1)
	go func() {
		f, err := sealedSelf()
		exeCh <- sealedExe{f, err}
	}()
	exe := func() (*os.File, error) {
		r := <-exeCh
		exeCh <- sealedExe{}
		return r.f, r.err
	}
	defer func() {
		if r := <-exeCh; r.f != nil {
			r.f.Close()
		}
	}()
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	spec, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	if err := Validate(spec, bundle); err != nil {
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
	c := &creator{o: o, spec: spec, dir: dir, bundle: bundle, rootfs: rootfsPath, exe: exe}
	created, err := c.create()
	if err != nil {
		c.cleanup()
		return nil, err
	}
	return created, nil
}

type creator struct {
	o      CreateOpts
	spec   *specs.Spec
	dir    string
	bundle string
	rootfs string
	cg     *cgroups.Manager
	cmd    *exec.Cmd
	exe    func() (*os.File, error)
}

type sealedExe struct {
	f   *os.File
	err error
}

func (c *creator) cleanup() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_, _ = c.cmd.Process.Wait()
	}
	if c.cg != nil {
		_ = c.cg.Destroy()
	}
	_ = os.RemoveAll(c.dir)
}

func (c *creator) create() (*CreatedContainer, error) {
	spec := c.spec
	fifoPath := filepath.Join(c.dir, fifoName)
	old := unix.Umask(0)
	err := unix.Mkfifo(fifoPath, 0o622)
	unix.Umask(old)
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
	if c.cg, err = cgroups.Resolve(cgPath, c.o.ID); err != nil {
		return nil, err
	}
	if err := c.cg.Create(withDefaultDevices(spec)); err != nil {
		return nil, fmt.Errorf("create cgroups: %w", err)
	}

	exe, err := c.exe()
	if err != nil {
		return nil, err
	}
	defer exe.Close()

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer parentSock.Close()

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

	attr := &syscall.SysProcAttr{Setsid: spec.Process.Terminal}
	userNS := false
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			attr.Cloneflags |= cloneFlags[ns.Type]
		}
		if ns.Type == specs.UserNamespace {
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
		Path: "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args: []string{"runtime", InitArg},
		// Init is short-lived: skip the Go runtime's cgroup probing and GC.
		Env:         []string{"GOMAXPROCS=1", "GOGC=off"},
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  extra,
		SysProcAttr: attr,
	}
	err = c.cmd.Start()
	childSock.Close()
	if err != nil {
		c.cmd = nil
		return nil, fmt.Errorf("start container init: %w", err)
	}
	pid := c.cmd.Process.Pid
	if err := c.cg.Apply(pid); err != nil {
		return nil, fmt.Errorf("put init into cgroups: %w", err)
	}
	_, startTime, _ := procStat(pid)
	st := &State{
		State: specs.State{
			Version: specs.Version, ID: c.o.ID, Status: Creating, Pid: pid,
			Bundle: c.bundle, Annotations: spec.Annotations,
		},
		Rootfs: c.rootfs, Created: time.Now().UTC(), InitStartTime: startTime,
		Cgroups: c.cg, Hooks: spec.Hooks, dir: c.dir,
	}
	hooks := spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0)
	enc := json.NewEncoder(parentSock)
	if err := enc.Encode(initConfig{
		ID: c.o.ID, Bundle: c.bundle, Rootfs: c.rootfs, Spec: spec, NoPivot: c.o.NoPivot,
		NoNewKeyring: c.o.NoNewKeyring, Console: c.o.ConsoleSocket != "", Cgroups: c.cg, Hooks: hooks,
	}); err != nil {
		return nil, fmt.Errorf("send config to init: %w", c.initFailed(err))
	}
	dec := json.NewDecoder(parentSock)
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
			reply := syncMsg{Type: "ack"}
			if err != nil {
				reply = syncMsg{Type: "error", Msg: err.Error()}
			}
			if werr := enc.Encode(reply); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				return nil, err
			}
			continue
		case "ready":
		default:
			return nil, fmt.Errorf("unexpected message %q from init", m.Type)
		}
		break
	}
	st.Status = Created
	if err := st.save(); err != nil {
		return nil, err
	}
	if c.o.PidFile != "" {
		if err := writePidFile(c.o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	return &CreatedContainer{State: st, Cmd: c.cmd}, nil
}

// initFailed adds the init's exit status to err when it has died.
func (c *creator) initFailed(err error) error {
	if c.cmd == nil || c.cmd.Process == nil {
		return err
	}
	var ws unix.WaitStatus
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

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// sealedSelf returns a sealed memfd copy of the running binary, at a high fd
// number so that exec.Cmd's fd shuffling in the child cannot overwrite it
// (CVE-2019-5736: the container must not be able to reach the host binary).
func sealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("berth-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:berth-runtime")
	defer mem.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	if err := copyFile(fd, int(src.Fd()), fi.Size()); err != nil {
		return nil, fmt.Errorf("copy runtime binary to memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(high), "memfd:berth-runtime"), nil
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
