package integration

import (
	"encoding/json"
	"errors"
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
)

func TestRuntimePid1AndHostname(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) { s.Hostname = "berthbox" }, "sh", "-c", "echo $$; hostname")
	out, errOut, code := e.cmd(t, nil, "run", "pidhost")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "1\nberthbox\n" {
		t.Fatalf("output %q, want pid 1 and hostname berthbox", out)
	}
}

func TestRuntimeOnlyOwnProcesses(t *testing.T) {
	e := newRtEnv(t, nil, "ps", "-o", "pid,comm")
	out := e.must(t, "run", "ps")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") {
		t.Fatalf("ps in the container shows more than itself:\n%s", out)
	}
}

func TestRuntimeExitCode(t *testing.T) {
	e := newRtEnv(t, nil, "sh", "-c", "exit 3")
	if _, errOut, code := e.cmd(t, nil, "run", "exit3"); code != 3 {
		t.Fatalf("run exit code %d, want 3: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.root, "exit3")); !os.IsNotExist(err) {
		t.Fatalf("run left its state dir behind: %v", err)
	}
}

func TestRuntimeLifecycle(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	id := "life"
	e.cleanup(t, id)
	pidFile := filepath.Join(e.dir, "pid")
	e.must(t, "create", "--bundle", e.bundle, "--pid-file", pidFile, id)
	st := e.state(t, id)
	if st.Status != "created" || st.Pid <= 0 || st.ID != id || st.Bundle != e.bundle {
		t.Fatalf("state after create: %+v", st)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q (%v), state pid %d", b, err, st.Pid)
	}
	if _, errOut, code := e.cmd(t, nil, "create", "--bundle", e.bundle, id); code != 1 || !strings.Contains(errOut, "container with id exists") {
		t.Fatalf("second create: exit %d: %s", code, errOut)
	}
	e.must(t, "start", id)
	if st := e.state(t, id); st.Status != "running" {
		t.Fatalf("state after start: %s", st.Status)
	}
	if _, errOut, code := e.cmd(t, nil, "delete", id); code != 1 || !strings.Contains(errOut, "not stopped") {
		t.Fatalf("delete of a running container: exit %d: %s", code, errOut)
	}
	list := e.must(t, "list", "--format", "json")
	if !strings.Contains(list, `"id":"life"`) {
		t.Fatalf("list: %s", list)
	}
	e.must(t, "kill", id, "KILL")
	waitStatus(t, e, id, "stopped")
	e.must(t, "delete", id)
	if _, errOut, code := e.cmd(t, nil, "state", id); code != 1 || !strings.Contains(errOut, "container does not exist") {
		t.Fatalf("state after delete: exit %d: %s", code, errOut)
	}
	if _, errOut, code := e.cmd(t, nil, "delete", id); code != 1 || !strings.Contains(errOut, "container does not exist") {
		t.Fatalf("delete unknown: exit %d: %s", code, errOut)
	}
	if _, _, code := e.cmd(t, nil, "delete", "--force", id); code != 0 {
		t.Fatalf("delete --force of an unknown id: exit %d", code)
	}
}

func waitStatus(t *testing.T, e *rtEnv, id, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := e.state(t, id)
		if string(st.Status) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s, want %s", st.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRuntimeKillSignal(t *testing.T) {
	e := newRtEnv(t, nil, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
	id := "killterm"
	e.cleanup(t, id)
	e.must(t, "run", "--detach", id)
	// SIGTERM (the default). Until sh has run `trap`, pid 1 ignores it: resend.
	deadline := time.Now().Add(5 * time.Second)
	for e.state(t, id).Status != "stopped" {
		if time.Now().After(deadline) {
			t.Fatal("SIGTERM did not stop the container")
		}
		e.cmd(t, nil, "kill", id)
		time.Sleep(50 * time.Millisecond)
	}
	if _, errOut, code := e.cmd(t, nil, "kill", id, "NOSUCHSIG"); code != 1 {
		t.Fatalf("bad signal accepted: %s", errOut)
	}
}

// containerCgroupDirs are the host cgroup directories of pid (v1 and v2).
func containerCgroupDirs(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || strings.HasPrefix(f[1], "name=") || !strings.Contains(f[2], "berth/") {
			continue
		}
		h := f[1]
		if h == "" {
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
				continue // hybrid host: runtime does not use the unified tree
			}
		}
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", h, f[2]))
	}
	return dirs
}

func TestRuntimeForceDeleteRemovesCgroups(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	id := "forcedel"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	st := e.state(t, id)
	dirs := containerCgroupDirs(t, st.Pid)
	if len(dirs) == 0 {
		t.Fatal("container init is in no berth cgroup")
	}
	for _, d := range dirs {
		if !strings.HasSuffix(d, "/berth/"+id) {
			t.Fatalf("cgroup %s is not berth/%s", d, id)
		}
	}
	e.must(t, "delete", "--force", id)
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s still exists after delete --force", d)
		}
	}
	if err := syscall.Kill(st.Pid, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.Pid)); !strings.Contains(string(b), ") Z") {
			t.Errorf("init %d still alive", st.Pid)
		}
	}
}

func TestRuntimeMaskedAndReadonly(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/etc/secretdir")
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/tmp")
		s.Root.Readonly = true
	}, "sh", "-c", "wc -c < /etc/secret; ls /etc/secretdir | wc -l; touch /newfile && echo WROTE; touch /tmp/x && echo TMPWROTE; true")
	rootfs := filepath.Join(e.bundle, "rootfs")
	if err := os.WriteFile(filepath.Join(rootfs, "etc/secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "etc/secretdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/secretdir/f"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.cmd(t, nil, "run", "masked")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "0" || f[1] != "0" {
		t.Fatalf("masked paths not empty: %q (%s)", out, errOut)
	}
	if strings.Contains(out, "WROTE") {
		t.Fatalf("wrote to a read-only path: %q", out)
	}
}

func TestRuntimeCapabilities(t *testing.T) {
	tmpfs := specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}}
	// Default capabilities lack CAP_CHOWN.
	e := newRtEnv(t, func(s *specs.Spec) { s.Mounts = append(s.Mounts, tmpfs) }, "sh", "-c", "touch /tmp/f; chown 1:1 /tmp/f")
	if _, _, code := e.cmd(t, nil, "run", "nochown"); code == 0 {
		t.Fatal("chown succeeded without CAP_CHOWN")
	}
	// With it, the same works; CAP_SYS_RESOURCE may be missing from the
	// runtime's bounding set: that is a warning, not a failure.
	e.editSpec(t, func(s *specs.Spec) {
		c := s.Process.Capabilities
		add := []string{"CAP_CHOWN", "CAP_SYS_RESOURCE"}
		c.Bounding = append(c.Bounding, add...)
		c.Effective = append(c.Effective, add...)
		c.Permitted = append(c.Permitted, add...)
	})
	if _, errOut, code := e.cmd(t, nil, "run", "chown"); code != 0 {
		t.Fatalf("chown with CAP_CHOWN: exit %d: %s", code, errOut)
	}
}

func TestRuntimeCgroupLimits(t *testing.T) {
	limit := int64(42)
	mem := int64(64 << 20)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem}
	}, "sleep", "100")
	id := "limits"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	st := e.state(t, id)
	var sawPids, sawMem bool
	for _, d := range containerCgroupDirs(t, st.Pid) {
		if b, err := os.ReadFile(filepath.Join(d, "pids.max")); err == nil {
			sawPids = true
			if strings.TrimSpace(string(b)) != "42" {
				t.Errorf("%s/pids.max = %q", d, b)
			}
		}
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				sawMem = true
				if strings.TrimSpace(string(b)) != strconv.FormatInt(mem, 10) {
					t.Errorf("%s/%s = %q", d, f, b)
				}
			}
		}
	}
	if !sawPids || !sawMem {
		t.Fatalf("pids.max seen %v, memory limit seen %v", sawPids, sawMem)
	}
}

func TestRuntimeCgroupMountInContainer(t *testing.T) {
	limit := int64(17)
	e := newRtEnv(t, func(s *specs.Spec) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit} },
		"sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
	out := e.must(t, "run", "cgmount")
	if strings.TrimSpace(out) != "17" {
		t.Fatalf("pids.max seen in the container: %q", out)
	}
}

func TestRuntimeNoHostFdLeak(t *testing.T) {
	e := newRtEnv(t, nil, "ls", "/proc/self/fd")
	// Hand the runtime five inheritable fds; none may reach the container.
	var extra []*os.File
	for i := 0; i < 5; i++ {
		f, err := os.Open("/etc/hostname")
		if err != nil {
			f, err = os.Open("/dev/null")
			if err != nil {
				t.Fatal(err)
			}
		}
		defer f.Close()
		extra = append(extra, f)
	}
	out, errOut, code := e.cmd(t, extra, "run", "fds")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// 0, 1, 2 and ls's own directory fd.
	if got := strings.Fields(out); len(got) != 4 {
		t.Fatalf("container sees fds %v, want 0 1 2 and ls's own", got)
	}
}

func TestRuntimeInitBinaryNotHost(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	id := "exe"
	e.cleanup(t, id)
	e.must(t, "create", "--bundle", e.bundle, id)
	st := e.state(t, id)
	exe := fmt.Sprintf("/proc/%d/exe", st.Pid)
	// What a container process can do (CVE-2019-5736): keep a handle on the
	// init's binary while init runs it, and once init has exec'd the
	// container's process (so the file is no longer busy), write through it.
	h, err := os.OpenFile(exe, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(h.Fd()), &fs); err != nil {
		t.Fatal(err)
	}
	target, _ := os.Readlink(exe)
	var hs, bs unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &hs); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(e.bin, &bs); err != nil {
		t.Fatal(err)
	}
	if hs.Dev == bs.Dev && hs.Ino == bs.Ino {
		t.Fatalf("init runs the host binary itself (%s)", target)
	}
	if !strings.HasPrefix(target, "/memfd:") && fs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Fatalf("init runs %s (fs %#x), want a sealed memfd or a read-only overlay", target, fs.Type)
	}
	e.must(t, "start", id)
	waitStatus(t, e, id, "running")
	if f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", h.Fd()), os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		if werr == nil {
			t.Fatal("the init's binary is writable")
		}
	} else if !strings.HasPrefix(target, "/memfd:") && !errors.Is(err, unix.EROFS) {
		t.Fatalf("open for writing: %v, want EROFS", err)
	}
}

func TestRuntimeErrors(t *testing.T) {
	e := newRtEnv(t, nil, "/bin/does-not-exist")
	_, errOut, code := e.cmd(t, nil, "run", "noexe")
	if code != 1 || !strings.Contains(errOut, "does-not-exist") {
		t.Fatalf("missing executable: exit %d: %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.root, "noexe")); !os.IsNotExist(err) {
		t.Fatalf("failed create left state: %v", err)
	}
	e.editSpec(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		// A seccomp config the runtime cannot honour is refused, never ignored.
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}
	})
	if _, errOut, code := e.cmd(t, nil, "run", "seccomp"); code != 1 || !strings.Contains(errOut, "seccomp") {
		t.Fatalf("seccomp: exit %d: %q", code, errOut)
	}
	logFile := filepath.Join(e.dir, "log.json")
	e.cmd(t, nil, "--log", logFile, "--log-format", "json", "state", "nope")
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), `"level":"error","msg":"container does not exist"`) {
		t.Fatalf("json log: %s", b)
	}
}

func TestRuntimeHooks(t *testing.T) {
	e := newRtEnv(t, nil, "true")
	out := filepath.Join(e.dir, "hooks.out")
	sh := "/bin/sh"
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: sh, Args: []string{"sh", "-c", "cat >/dev/null; echo " + name + " >> " + out}}
	}
	e.editSpec(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			Prestart:      []specs.Hook{hook("prestart")},
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			Poststart:     []specs.Hook{hook("poststart")},
			Poststop:      []specs.Hook{hook("poststop")},
		}
	})
	e.must(t, "run", "hooks")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); strings.Join(got, ",") != "prestart,createRuntime,poststart,poststop" {
		t.Fatalf("hooks ran: %v", got)
	}
}

func TestRuntimePauseResumePsKillAll(t *testing.T) {
	// Without a pid namespace only the cgroup finds every process.
	e := newRtEnv(t, withoutNamespace(specs.PIDNamespace), "sh", "-c", "sleep 100 & sleep 100 & wait")
	id := "pause"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) {
		out := e.must(t, "ps", "--format", "json", id)
		pids = nil
		if err := json.Unmarshal([]byte(out), &pids); err != nil {
			t.Fatalf("ps json %q: %v", out, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("ps: %v, want sh and two sleeps", pids)
	}
	e.must(t, "pause", id)
	if st := e.state(t, id); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	e.must(t, "resume", id)
	if st := e.state(t, id); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	e.must(t, "kill", "--all", id, "KILL")
	waitStatus(t, e, id, "stopped")
	for _, p := range pids {
		deadline := time.Now().Add(2 * time.Second)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err != nil || strings.Contains(string(b), ") Z") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d survived kill --all", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.must(t, "delete", id)
}

func TestRuntimeUserNamespace(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}, "sh", "-c", "id -u; cat /proc/self/uid_map; echo x > /dev/null && echo devnull-ok")
	// The container's root is host uid 200000: it must be able to reach the rootfs.
	if err := os.Chmod(e.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.cmd(t, nil, "run", "userns")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f := strings.Fields(out)
	if len(f) < 5 || f[0] != "0" || f[1] != "0" || f[2] != "200000" || f[3] != "65536" || f[4] != "devnull-ok" {
		t.Fatalf("user namespace output %q", out)
	}
}

// A container in a new user namespace joins a network namespace the host's
// user namespace owns (what an engine holds for a bridged container): init
// cannot setns into it from inside its own user namespace, so the runtime
// starts it there.
func TestRuntimeUserNamespaceJoinsNetNS(t *testing.T) {
	nsFile := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(nsFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--net="+nsFile, "true")
	if out, err := holder.CombinedOutput(); err != nil {
		t.Fatalf("make a network namespace: %v: %s", err, out)
	}
	defer unix.Unmount(nsFile, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Stat(nsFile, &st); err != nil {
		t.Fatal(err)
	}
	e := newRtEnv(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace},
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsFile})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}, "sh", "-c", "id -u; readlink /proc/self/ns/net")
	if err := os.Chmod(e.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.cmd(t, nil, "run", "usernsnet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := fmt.Sprintf("0\nnet:[%d]\n", st.Ino)
	if out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// createContainer hooks run in the container's namespaces before
// pivot_root (host paths still reach them), startContainer hooks in the
// container after the start; both get the state on stdin. A hook that
// reads none of a state larger than a pipe holds, or exits at once, does
// not hold init up; a hook over its timeout is killed; a failing one fails
// create with its output and leaves nothing behind.
func TestRuntimeContainerHooks(t *testing.T) {
	e := newRtEnv(t, nil, "true")
	out := filepath.Join(e.dir, "hooks.out")
	sh := func(script string) specs.Hook { return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}} }
	big := strings.Repeat("x", 200<<10)
	e.editSpec(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{"big": big}
		s.Root.Readonly = false // for the startContainer hook's file
		s.Hooks = &specs.Hooks{
			Prestart: []specs.Hook{sh("cat >/dev/null; echo prestart >> " + out)},
			CreateContainer: []specs.Hook{
				sh("true"), // reads nothing of 200 KB
				sh(`st=$(cat); case "$st" in *'"status":"creating"'*'"pid":'[1-9]*) echo createContainer >> ` + out + `;; *) echo "bad state" >&2; exit 1;; esac`),
			},
			StartContainer: []specs.Hook{sh(`st=$(cat); case "$st" in *'"status":"running"'*) echo startContainer > /tmp/sc;; esac`)},
			Poststart:      []specs.Hook{sh("cat >/dev/null; echo poststart >> " + out)},
		}
	})
	e.must(t, "run", "hooks")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); strings.Join(got, ",") != "prestart,createContainer,poststart" {
		t.Errorf("hooks on the host side ran: %v", got)
	}
	if b, err := os.ReadFile(filepath.Join(e.bundle, "rootfs", "tmp", "sc")); err != nil || strings.TrimSpace(string(b)) != "startContainer" {
		t.Errorf("startContainer hook in the container: %q, %v", b, err)
	}

	for name, c := range map[string]struct {
		hook specs.Hook
		want string
	}{
		"timeout": {func() specs.Hook { h := sh("sleep 30"); one := 1; h.Timeout = &one; return h }(), "createContainer hook /bin/sh: timed out after 1s"},
		"failure": {sh("echo boom >&2; exit 3"), "createContainer hook /bin/sh: exit status 3: boom"},
	} {
		e.editSpec(t, func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{c.hook}}
		})
		id := "hook-" + name
		start := time.Now()
		_, errOut, code := e.cmd(t, nil, "run", id)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d: %q, want %q", name, code, errOut, c.want)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: create took %v", name, took)
		}
		if out, _, code := e.cmd(t, nil, "state", id); code == 0 {
			t.Errorf("%s: a failed create left a container: %s", name, out)
		}
	}
}
