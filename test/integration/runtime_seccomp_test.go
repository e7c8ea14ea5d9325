package integration

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// A rule makes mkdir fail with the configured errno, in the container's
// process and in a process exec'd into it; other syscalls are untouched.
func TestRuntimeSeccompErrnoRule(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Process.NoNewPrivileges = true // the filter is loaded just before execve
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
				// chmod of mode 0700 only (argument condition): EACCES
				{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)),
					Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpMaskedEqual, Value: 0o777, ValueTwo: 0o700}}},
				{Names: []string{"fchmodat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)),
					Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpMaskedEqual, Value: 0o777, ValueTwo: 0o700}}},
				{Names: []string{"chroot"}, Action: specs.ActKillProcess},
			},
		}
	}, "sh", "-c", "mkdir /tmp/x; echo mkdir=$?; touch /tmp/f; chmod 700 /tmp/f; echo chmod700=$?; chmod 755 /tmp/f; echo chmod755=$?; chroot / true; echo chroot=$?")
	out, errOut, code := e.cmd(t, nil, "run", "sc1")
	if code != 0 {
		t.Fatalf("run: exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"Operation not permitted", "mkdir=1", "Permission denied", "chmod700=1", "chmod755=0", "chroot=159"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("no %q in the output:\n%s%s", want, out, errOut)
		}
	}

	e.editSpec(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	e.cleanup(t, "sc2")
	e.must(t, "run", "-d", "sc2")
	out, errOut, code = e.cmd(t, nil, "exec", "sc2", "mkdir", "/tmp/y")
	if code == 0 || !strings.Contains(errOut+out, "Operation not permitted") {
		t.Fatalf("mkdir in exec: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code = e.cmd(t, nil, "exec", "sc2", "touch", "/tmp/y"); code != 0 {
		t.Fatalf("touch in exec: exit %d: %s%s", code, out, errOut)
	}
}

// The default action is ERRNO (with defaultErrnoRet) and an allowlist names
// every syscall but mkdir and mkdirat.
func TestRuntimeSeccompAllowlist(t *testing.T) {
	var all []string
	for _, n := range x8664Syscalls(t) {
		if n != "mkdir" && n != "mkdirat" {
			all = append(all, n)
		}
	}
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(uint(unix.EROFS)),
			Syscalls:        []specs.LinuxSyscall{{Names: all, Action: specs.ActAllow}},
		}
	}, "sh", "-c", "echo hi; mkdir /tmp/x; echo mkdir=$?")
	out, errOut, code := e.cmd(t, nil, "run", "sca")
	if code != 0 || !strings.Contains(out, "hi\n") || !strings.Contains(out, "mkdir=1") || !strings.Contains(errOut+out, "Read-only file system") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// A docker-like profile: deny by default, allow the usual syscalls, forbid
// namespace flags to clone/unshare, on three architectures, loaded without
// no_new_privs (so before the capabilities are dropped).
func TestRuntimeSeccompDockerLikeProfile(t *testing.T) {
	deny := map[string]bool{"mount": true, "umount2": true, "unshare": true, "setns": true, "reboot": true,
		"kexec_load": true, "init_module": true, "finit_module": true, "delete_module": true, "ptrace": true,
		"bpf": true, "add_key": true, "keyctl": true, "request_key": true, "pivot_root": true, "swapon": true,
		"swapoff": true, "acct": true, "clone": true, "clone3": true, "personality": true, "open_by_handle_at": true}
	var allow []string
	for _, n := range x8664Syscalls(t) {
		if !deny[n] {
			allow = append(allow, n)
		}
	}
	nsFlags := uint64(unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Process.NoNewPrivileges = false
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(uint(unix.EPERM)),
			Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{
				{Names: allow, Action: specs.ActAllow},
				{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Op: specs.OpEqualTo, Value: 0}, {Index: 0, Op: specs.OpEqualTo, Value: 8},
					{Index: 0, Op: specs.OpEqualTo, Value: 0xffffffff}}},
				{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Op: specs.OpMaskedEqual, Value: nsFlags, ValueTwo: 0}}},
				{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))},
			},
			Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
		}
	}, "sh", "-c", "echo $(echo sub)shell; ls / >/dev/null && echo ls=$?; unshare -m true; echo unshare=$?")
	out, errOut, code := e.cmd(t, nil, "run", "scd")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"subshell", "ls=0", "unshare=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s%s", want, out, errOut)
		}
	}
}

// Docker's default profile (github.com/moby/profiles/seccomp, as engined
// applies it), compiled once by create: it filters the container's process
// and processes exec'd into it, from the compiled program create keeps;
// a container whose directory has the profile instead (made by an earlier
// runtime) still gets it compiled for exec.
func TestRuntimeSeccompDockerDefault(t *testing.T) {
	var profile *specs.LinuxSeccomp
	e := newRtEnv(t, func(s *specs.Spec) {
		p, err := mobyseccomp.GetDefaultProfile(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Linux.Seccomp, profile = p, p
	}, "sh", "-c", "grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?; echo $(echo sub)shell")
	out, errOut, code := e.cmd(t, nil, "run", "scdd")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"Seccomp:\t2", "Operation not permitted", "unshare=1", "subshell"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("no %q in the output:\n%s%s", want, out, errOut)
		}
	}

	e.editSpec(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	e.cleanup(t, "scdd2")
	e.must(t, "run", "-d", "scdd2")
	execDenied := func(what string) {
		t.Helper()
		out, errOut, code := e.cmd(t, nil, "exec", "scdd2", "unshare", "-U", "true")
		if code == 0 || !strings.Contains(out+errOut, "Operation not permitted") {
			t.Errorf("%s: unshare -U in exec: exit %d: %s%s", what, code, out, errOut)
		}
		if out, errOut, code := e.cmd(t, nil, "exec", "scdd2", "grep", "Seccomp:", "/proc/self/status"); code != 0 || !strings.Contains(out, "Seccomp:\t2") {
			t.Errorf("%s: exec status: exit %d: %s%s", what, code, out, errOut)
		}
	}
	execDenied("compiled by create")

	dir := filepath.Join(e.root, "scdd2")
	if err := os.Remove(filepath.Join(dir, "seccomp-filter.json")); err != nil {
		t.Fatalf("create kept no compiled filter: %v", err)
	}
	b, err := json.Marshal(profile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seccomp.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	execDenied("profile of an earlier runtime")
}

// x8664Syscalls are the syscall names of the host's uapi header, the same
// source the runtime's table is generated from.
func x8664Syscalls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
	testprereq.Require(t, err == nil, "kernel uapi headers (linux-libc-dev)")
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "#define" && strings.HasPrefix(f[1], "__NR_") {
			names = append(names, strings.TrimPrefix(f[1], "__NR_"))
		}
	}
	return names
}

func uintp(v uint) *uint { return &v }

// SCMP_ACT_NOTIFY: the runtime sends the listener fd and the container's
// state to the agent at listenerPath (SCM_RIGHTS), for init and for exec;
// the agent (this test) answers mkdir with EROFS.
func TestRuntimeSeccompNotify(t *testing.T) {
	e := newRtEnv(t, nil, "sh", "-c", "mkdir /tmp/x; echo mkdir=$?; exec sleep 100")
	sock := filepath.Join(e.dir, "agent.sock")
	e.editSpec(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "meta1",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}
	})
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	states := make(chan specs.ContainerProcessState, 2)
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go seccompAgent(t, c, states)
		}
	}()
	e.cleanup(t, "sn")
	e.must(t, "run", "-d", "sn")
	select {
	case st := <-states:
		if st.State.ID != "sn" || st.Metadata != "meta1" || len(st.Fds) != 1 || st.Fds[0] != "seccompFd" || st.Pid <= 0 {
			t.Fatalf("state sent to the agent: %+v", st)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent got no listener fd")
	}
	out, errOut, code := e.cmd(t, nil, "exec", "sn", "mkdir", "/tmp/y")
	if code == 0 || !strings.Contains(errOut+out, "Read-only file system") {
		t.Fatalf("mkdir in exec: exit %d: %s%s", code, out, errOut)
	}
	if st := <-states; st.State.ID != "sn" {
		t.Fatalf("exec's state: %+v", st)
	}
}

// seccompAgent receives one listener fd and answers every notification with
// EROFS until the filter has no more users.
func seccompAgent(t *testing.T, c *net.UnixConn, states chan<- specs.ContainerProcessState) {
	defer c.Close()
	buf, oob := make([]byte, 8192), make([]byte, 256)
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Errorf("agent: %v", err)
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Errorf("agent: control messages %v %v", msgs, err)
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Errorf("agent: fds %v %v", fds, err)
		return
	}
	fd := fds[0]
	defer unix.Close(fd)
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		t.Errorf("agent: state %q: %v", buf[:n], err)
	}
	states <- st
	// struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes).
	const notifSend = 0xc0182101
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 30000); err != nil && err != unix.EINTR {
			return
		}
		if pfd[0].Revents&unix.POLLHUP != 0 || pfd[0].Revents == 0 {
			return
		}
		var req [80]byte
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
			continue
		}
		var resp [24]byte
		copy(resp[0:8], req[0:8]) // id
		errno := -int32(unix.EROFS)
		binary.LittleEndian.PutUint32(resp[16:20], uint32(errno))
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), notifSend, uintptr(unsafe.Pointer(&resp[0])))
	}
}
