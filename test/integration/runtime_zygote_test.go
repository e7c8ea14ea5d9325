package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/runtime/standby"
)

// createStandby is `runtime standby --create-next` started as a spare
// shim starts it: this test process is then its inits' parent.
type createStandby struct {
	e      *rtEnv
	conn   *os.File
	cmd    *exec.Cmd
	zygote int // the init it started ahead
	log    string
}

func startCreateStandby(t *testing.T, e *rtEnv) *createStandby {
	t.Helper()
	ours, theirs, err := standby.Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.bin, standby.Arg, standby.ArgCreate)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	s := &createStandby{e: e, conn: ours, cmd: cmd, log: filepath.Join(e.dir, "standby.log")}
	t.Cleanup(func() {
		ours.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if s.zygote > 0 {
			_ = unix.Kill(s.zygote, unix.SIGKILL)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(s.zygote, &ws, 0, nil)
		}
	})
	if err := standby.WaitReady(ours); err != nil {
		t.Fatal(err)
	}
	s.zygote = zygoteChild(t)
	return s
}

// zygoteChild finds the `runtime-init zygote` among this process's
// children.
func zygoteChild(t *testing.T) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || !strings.Contains(string(st), fmt.Sprintf("\nPPid:\t%d\n", os.Getpid())) {
			continue
		}
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(cl) == "runtime-init\x00zygote\x00" {
			return pid
		}
	}
	t.Fatal("the standby started no init ahead (runtime-init zygote)")
	return 0
}

// create sends `create id` to the standby (traced, to see which init it
// used) with out as the container's stdout and stderr, and returns the
// standby's exit code.
func (s *createStandby) create(t *testing.T, id string, out *os.File) int {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	c := standby.Command{
		Args: []string{"--root", s.e.root, "--log", s.log, "--log-format", "json", "create", "--bundle", s.e.bundle, id},
		Env:  []string{"BERTH_TRACE=0123456789abcdef"},
		Dir:  s.e.bundle,
	}
	if err := standby.Send(s.conn, c, null, out, out); err != nil {
		t.Fatal(err)
	}
	err = s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// usedZygote tells whether the create's trace has the hand-over to the
// init started ahead.
func (s *createStandby) usedZygote(t *testing.T) bool {
	t.Helper()
	b, _ := os.ReadFile(s.log)
	return strings.Contains(string(b), "init started ahead: hand-over")
}

// runCreated starts the created container, waits for its init (our child)
// and returns its exit status and output.
func (s *createStandby) runCreated(t *testing.T, id string, out *os.File) (int, string) {
	t.Helper()
	pid := s.e.state(t, id).Pid
	s.e.must(t, "start", id)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatalf("wait for init %d: %v", pid, err)
	}
	s.e.must(t, "delete", id)
	b, _ := os.ReadFile(out.Name())
	return ws.ExitStatus(), string(b)
}

func outFile(t *testing.T, e *rtEnv) *os.File {
	t.Helper()
	f, err := os.CreateTemp(e.dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The spare's init, started before the container was known, becomes a
// container's init: with the stdio the create gives, in the namespaces the
// spec asks for, and with the mounts made after it started (the rootfs,
// here bind-mounted only then, as supervisord mounts a task's rootfs).
func TestRuntimeInitStartedAhead(t *testing.T) {
	e := newRtEnv(t, nil, "sh", "-c", "echo out; echo err >&2; ls /bin/busybox; readlink /proc/self/ns/net; readlink /proc/self/ns/mnt; ip -o link | wc -l; ls /proc/self/fd | wc -l; pwd; exit 3")
	rootfs := filepath.Join(e.bundle, "rootfs")
	src := filepath.Join(e.dir, "rootfs-src")
	if err := os.Rename(rootfs, src); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startCreateStandby(t, e)
	if err := unix.Mount(src, rootfs, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	out := outFile(t, e)
	if code := s.create(t, "ahead", out); code != 0 {
		b, _ := os.ReadFile(s.log)
		t.Fatalf("create through the standby: exit %d: %s", code, b)
	}
	if !s.usedZygote(t) {
		t.Fatal("the create did not use the init started ahead")
	}
	if pid := e.state(t, "ahead").Pid; pid != s.zygote {
		t.Fatalf("init is %d, not the one started ahead (%d)", pid, s.zygote)
	}
	// As a fresh init (TestRuntimeInitBinaryNotHost, CVE-2019-5736): it
	// runs the protected copy of runtime-init, not the host's file.
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.zygote))
	var fs unix.Statfs_t
	if err := unix.Statfs(fmt.Sprintf("/proc/%d/exe", s.zygote), &fs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(exe, "/memfd:") && fs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Errorf("init started ahead runs %s (fs %#x), want a sealed memfd or a read-only overlay", exe, fs.Type)
	}
	s.zygote = 0 // the container's now
	code, got := s.runCreated(t, "ahead", out)
	if code != 3 {
		t.Errorf("exit status %d, want 3: %s", code, got)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 8 || lines[0] != "out" || lines[1] != "err" || lines[2] != "/bin/busybox" {
		t.Fatalf("output:\n%s", got)
	}
	// No fd of the runtime's or the zygote's reaches the container
	// (TestRuntimeNoHostFdLeak, CVE-2024-21626): ls sees 0, 1, 2 and its
	// own directory; and the working directory is the spec's.
	if lines[6] != "4" || lines[7] != "/" {
		t.Errorf("container's fds (count %s) or working directory (%s) wrong", lines[6], lines[7])
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	if lines[3] == hostNet || lines[4] == hostMnt {
		t.Errorf("the container shares the host's namespaces: net %s mnt %s", lines[3], lines[4])
	}
	if lines[5] != "1" {
		t.Errorf("a new network namespace has lo only; links: %s", lines[5])
	}
}

// A network namespace joined by path, made after the spare's init started,
// is the container's.
func TestRuntimeInitStartedAheadJoinsNetns(t *testing.T) {
	e := newRtEnv(t, nil, "readlink", "/proc/self/ns/net")
	s := startCreateStandby(t, e)
	nsPath := filepath.Join(e.dir, "netns")
	if err := os.WriteFile(nsPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "--net="+nsPath, "true").CombinedOutput(); err != nil {
		t.Fatalf("unshare --net: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = unix.Unmount(nsPath, unix.MNT_DETACH) })
	var st syscall.Stat_t
	if err := syscall.Stat(nsPath, &st); err != nil {
		t.Fatal(err)
	}
	e.editSpec(t, func(sp *specs.Spec) {
		for i, ns := range sp.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				sp.Linux.Namespaces[i].Path = nsPath
			}
		}
	})
	out := outFile(t, e)
	if code := s.create(t, "joined", out); code != 0 {
		b, _ := os.ReadFile(s.log)
		t.Fatalf("create: exit %d: %s", code, b)
	}
	if !s.usedZygote(t) {
		t.Fatal("the create did not use the init started ahead")
	}
	s.zygote = 0
	_, got := s.runCreated(t, "joined", out)
	if want := fmt.Sprintf("net:[%d]", st.Ino); strings.TrimSpace(got) != want {
		t.Errorf("container's network namespace %q, want %s (%s)", got, want, nsPath)
	}
}

// A spec the spare's init does not fit (the host's IPC namespace: the
// zygote has left it) gets a fresh init, and the zygote is killed; so does
// a create whose zygote died meanwhile.
func TestRuntimeInitStartedAheadNotFitting(t *testing.T) {
	t.Run("host IPC", func(t *testing.T) {
		e := newRtEnv(t, withoutNamespace(specs.IPCNamespace), "readlink", "/proc/self/ns/ipc")
		s := startCreateStandby(t, e)
		zygote := s.zygote
		out := outFile(t, e)
		if code := s.create(t, "hostipc", out); code != 0 {
			b, _ := os.ReadFile(s.log)
			t.Fatalf("create: exit %d: %s", code, b)
		}
		if s.usedZygote(t) {
			t.Fatal("a spec with the host's IPC namespace used the init started ahead")
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(zygote, &ws, 0, nil); err != nil || !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("the unused init: %v, status %v (want killed)", err, ws)
		}
		s.zygote = 0
		_, got := s.runCreated(t, "hostipc", out)
		if host, _ := os.Readlink("/proc/self/ns/ipc"); strings.TrimSpace(got) != host {
			t.Errorf("container's IPC namespace %q, want the host's %s", got, host)
		}
	})
	t.Run("died", func(t *testing.T) {
		e := newRtEnv(t, nil, "echo", "fresh")
		s := startCreateStandby(t, e)
		if err := unix.Kill(s.zygote, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(s.zygote, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		s.zygote = 0
		out := outFile(t, e)
		if code := s.create(t, "died", out); code != 0 {
			b, _ := os.ReadFile(s.log)
			t.Fatalf("create after the init started ahead died: exit %d: %s", code, b)
		}
		if code, got := s.runCreated(t, "died", out); code != 0 || strings.TrimSpace(got) != "fresh" {
			t.Errorf("exit %d, output %q", code, got)
		}
	})
	// A standby that goes without its create takes its zygote with it.
	t.Run("dropped", func(t *testing.T) {
		e := newRtEnv(t, nil, "true")
		s := startCreateStandby(t, e)
		s.conn.Close()
		done := make(chan error, 1)
		go func() {
			var ws unix.WaitStatus
			_, err := unix.Wait4(s.zygote, &ws, 0, nil)
			if err == nil && (!ws.Exited() || ws.ExitStatus() != 0) {
				err = fmt.Errorf("status %v", ws)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the zygote of a dropped standby: %v", err)
			}
			s.zygote = 0
		case <-time.After(10 * time.Second):
			t.Fatal("the zygote outlived its dropped standby")
		}
	})
}

// A new network namespace has lo up, as runc and crun leave it; a fresh
// init and one started ahead alike.
func TestRuntimeLoopbackUp(t *testing.T) {
	e := newRtEnv(t, nil, "cat", "/sys/class/net/lo/flags")
	id := "lo"
	e.cleanup(t, id)
	if out := strings.TrimSpace(e.must(t, "run", id)); out != "0x9" {
		t.Errorf("lo flags %q, want 0x9 (up, loopback)", out)
	}
	s := startCreateStandby(t, e)
	out := outFile(t, e)
	if code := s.create(t, "lo-ahead", out); code != 0 {
		b, _ := os.ReadFile(s.log)
		t.Fatalf("create: exit %d: %s", code, b)
	}
	s.zygote = 0
	if _, got := s.runCreated(t, "lo-ahead", out); strings.TrimSpace(got) != "0x9" {
		t.Errorf("lo flags %q with the init started ahead, want 0x9", got)
	}
}
