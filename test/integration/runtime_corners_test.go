package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

// rootPropagationScript prints the propagation fields of the container's
// "/" in its mountinfo (nothing: private).
const rootPropagationScript = `while read id parent dev root mp opts rest; do if [ "$mp" = / ]; then r=" $rest"; echo ${r%% - *}; fi; done < /proc/self/mountinfo`

// linux.rootfsPropagation is the container root's propagation, applied after
// pivot_root: shared makes "/" shared (a group of its own), unbindable makes
// it unbindable, slave keeps it a slave of the caller's, private cuts it off.
// Run where the caller's "/" is rshared, as on a systemd host (before, shared
// made pivot_root fail with EINVAL and unbindable the rootfs bind), and
// nothing a container mounts shows up in the caller's namespace.
func TestRuntimeRootfsPropagation(t *testing.T) {
	rtBin(t)
	if !inPrivateMountNS(t) {
		return
	}
	if err := syscall.Mount("", "/", "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		t.Fatalf("make / rshared: %v", err)
	}
	for _, c := range []struct{ prop, want string }{
		{"", "master:"}, {"shared", "shared:"}, {"rshared", "shared:"},
		{"slave", "master:"}, {"rslave", "master:"},
		{"private", ""}, {"rprivate", ""},
		{"unbindable", "unbindable"}, {"runbindable", "unbindable"},
	} {
		e := newRtEnv(t, func(s *specs.Spec) { s.Linux.RootfsPropagation = c.prop }, "sh", "-c", rootPropagationScript)
		before := mountsUnder(t, e.dir)
		out, errOut, code := e.cmd(t, nil, "run", "prop-"+c.prop)
		if code != 0 {
			t.Errorf("rootfsPropagation %q: exit %d: %s%s", c.prop, code, out, errOut)
			continue
		}
		got := strings.TrimSpace(out)
		if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("rootfsPropagation %q: root has %q, want %q", c.prop, got, c.want)
		}
		if after := mountsUnder(t, e.dir); !slices.Equal(before, after) {
			t.Errorf("rootfsPropagation %q: the caller's namespace gained mounts: %v -> %v", c.prop, before, after)
		}
	}
	e := newRtEnv(t, func(s *specs.Spec) { s.Linux.RootfsPropagation = "bogus" }, "true")
	if _, errOut, code := e.cmd(t, nil, "run", "prop-bogus"); code == 0 || !strings.Contains(errOut, `rootfsPropagation "bogus"`) {
		t.Fatalf("bogus rootfsPropagation: exit %d: %s", code, errOut)
	}
}

// A linux.devices FIFO is made (mkfifo, not a device node) and needs no
// device cgroup rule (v1 refuses "p" rules); runc does the same.
func TestRuntimeFifoDevice(t *testing.T) {
	mode := os.FileMode(0o620)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/myfifo", Type: "p", FileMode: &mode}}
	}, "stat", "-c", "%F %a", "/dev/myfifo")
	out := e.must(t, "run", "fifodev")
	if out != "fifo 620\n" {
		t.Fatalf("linux.devices FIFO: %q", out)
	}
	if runc, err := exec.LookPath("runc"); err == nil {
		b, err := exec.Command(runc, "--root", filepath.Join(e.dir, "runc"), "run", "--bundle", e.bundle, "fifodev-runc").CombinedOutput()
		if err != nil || string(b) != out {
			t.Fatalf("runc: %v: %q, ours %q", err, b, out)
		}
	}
}

// noMountNS drops the mount namespace and what needs one.
func noMountNS(s *specs.Spec) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	s.Mounts, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil, nil
	s.Root.Readonly = false
}

// Without a mount namespace the container shares the caller's, chrooted
// into its rootfs (as runc does); exec enters that root too. What would
// have to be mounted in the caller's namespace is refused with an error
// naming it (runc mounts it there and leaves it behind), and a run leaves
// no mount.
func TestRuntimeNoMountNamespace(t *testing.T) {
	e := newRtEnv(t, noMountNS, "sleep", "100")
	if err := os.WriteFile(filepath.Join(e.bundle, "rootfs", "marker"), []byte("in-rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := mountsUnder(t, e.dir)
	id := "nomntns"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	pid := e.state(t, id).Pid
	own, _ := os.Readlink("/proc/self/ns/mnt")
	if theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); theirs != own {
		t.Fatalf("container mount namespace %s, the caller's %s", theirs, own)
	}
	if root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); root != filepath.Join(e.bundle, "rootfs") {
		t.Fatalf("container root %s", root)
	}
	if out := e.must(t, "exec", id, "cat", "/marker"); out != "in-rootfs\n" {
		t.Fatalf("exec sees %q, not the container's root", out)
	}
	e.must(t, "delete", "--force", id)
	if after := mountsUnder(t, e.dir); !slices.Equal(before, after) {
		t.Fatalf("mounts left: %v -> %v", before, after)
	}
	for name, mutate := range map[string]func(*specs.Spec){
		"mounts":                  func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}} },
		"linux.maskedPaths":       func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"/proc/kcore"} },
		"linux.devices":           func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fifo", Type: "p"}} },
		"root.readonly":           func(s *specs.Spec) { s.Root.Readonly = true },
		"linux.rootfsPropagation": func(s *specs.Spec) { s.Linux.RootfsPropagation = "shared" },
	} {
		e := newRtEnv(t, func(s *specs.Spec) { noMountNS(s); mutate(s) }, "true")
		_, errOut, code := e.cmd(t, nil, "run", "nomntns-bad")
		if code == 0 || !strings.Contains(errOut, name) || !strings.Contains(errOut, "need a new mount namespace") {
			t.Errorf("%s without a mount namespace: exit %d: %s", name, code, errOut)
		}
		if _, err := os.Stat(filepath.Join(e.root, "nomntns-bad")); !os.IsNotExist(err) {
			t.Errorf("%s: refused create left its state: %v", name, err)
		}
	}
}

// Joining a mount namespace by path sets up the bundle's rootfs in it and
// pivots into it, as runc does: here a namespace pinned on a file, whose
// root is the host's, so the bundle is reachable there. The container also
// joins another container's pid namespace and sees its processes. Joining
// a namespace where the rootfs is not reachable (another container's) is
// refused with an error saying so.
func TestRuntimeJoinPinnedMountNamespace(t *testing.T) {
	rtBin(t)
	nsenter, err := exec.LookPath("nsenter")
	testprereq.Require(t, err == nil, "nsenter (util-linux)")
	if !inPrivateMountNS(t) {
		return
	}
	a := newRtEnv(t, nil, "sleep", "100")
	a.cleanup(t, "pinned-a")
	a.must(t, "run", "-d", "pinned-a")
	pidA := a.state(t, "pinned-a").Pid
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pidA)); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if i > 200 {
			t.Fatal("container a did not reach sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pin := filepath.Join(a.dir, "mntns")
	if err := os.WriteFile(pin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pinMountNamespace(t, pin)
	joinBoth := func(mnt string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			for i, ns := range s.Linux.Namespaces {
				switch ns.Type {
				case specs.PIDNamespace:
					s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", pidA)
				case specs.MountNamespace:
					s.Linux.Namespaces[i].Path = mnt
				}
			}
		}
	}
	b := newRtEnv(t, joinBoth(pin), "sh", "-c", "cat /marker; ps -o pid,comm")
	if err := os.WriteFile(filepath.Join(b.bundle, "rootfs", "marker"), []byte("b-rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := mountsUnder(t, b.dir)
	out, errOut, code := b.cmd(t, nil, "run", "pinned-b")
	if code != 0 {
		t.Fatalf("join a pinned mount namespace: exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "b-rootfs\n") || !strings.Contains(out, "1 sleep") {
		t.Fatalf("the container does not see its rootfs and a's processes:\n%s", out)
	}
	if after := mountsUnder(t, b.dir); !slices.Equal(before, after) {
		t.Fatalf("the caller's namespace gained mounts: %v -> %v", before, after)
	}
	// The pinned namespace's root is now b's rootfs (pivot_root in it).
	if got, err := exec.Command(nsenter, "--mount="+pin, "cat", "/marker").CombinedOutput(); err != nil || string(got) != "b-rootfs\n" {
		t.Fatalf("root of the pinned namespace after the run: %v: %q", err, got)
	}
	c := newRtEnv(t, joinBoth(fmt.Sprintf("/proc/%d/ns/mnt", pidA)), "true")
	if _, errOut, code := c.cmd(t, nil, "run", "pinned-c"); code == 0 || !strings.Contains(errOut, "not reachable in the joined mount namespace") {
		t.Fatalf("joining a's mount namespace: exit %d: %s", code, errOut)
	}
}

// delete of a created container (no --force) kills its init and removes
// it, as runc does; the spec asks for an error there. Deliberate: shims and
// containerd delete a container whose start failed without --force.
func TestRuntimeDeleteCreated(t *testing.T) {
	e := newRtEnv(t, nil, "true")
	id := "delcreated"
	e.cleanup(t, id)
	e.must(t, "create", id)
	pid := e.state(t, id).Pid
	dirs := containerCgroupDirs(t, pid)
	e.must(t, "delete", id)
	if _, errOut, code := e.cmd(t, nil, "state", id); code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("state after delete: exit %d: %s", code, errOut)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z") {
		t.Fatalf("init %d alive after delete", pid)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left", d)
		}
	}
	if runc, err := exec.LookPath("runc"); err == nil {
		r := []string{"--root", filepath.Join(e.dir, "runc")}
		// Output to a file: the created init keeps its stdio open.
		out, err := os.Create(filepath.Join(e.dir, "runc.out"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		create := exec.Command(runc, append(r, "create", "--bundle", e.bundle, id)...)
		create.Stdout, create.Stderr = out, out
		if err := create.Run(); err != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("runc create: %v: %s", err, b)
		}
		if b, err := exec.Command(runc, append(r, "delete", id)...).CombinedOutput(); err != nil {
			exec.Command(runc, append(r, "delete", "--force", id)...).Run()
			t.Fatalf("runc delete of a created container: %v: %s (we differ)", err, b)
		}
	}
}

// create without process is refused (the spec makes process optional until
// start; runc refuses it too: "process property must not be empty"), with
// no state or cgroup left.
func TestRuntimeCreateWithoutProcess(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) { s.Process = nil }, "true")
	_, errOut, code := e.cmd(t, nil, "create", "noproc")
	if code == 0 || !strings.Contains(errOut, "process is not set") {
		t.Fatalf("create without process: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.root, "noproc")); !os.IsNotExist(err) {
		t.Fatalf("state left: %v", err)
	}
	if runc, err := exec.LookPath("runc"); err == nil {
		out, err := exec.Command(runc, "--root", filepath.Join(e.dir, "runc"), "create", "--bundle", e.bundle, "noproc").CombinedOutput()
		if err == nil {
			t.Fatalf("runc accepts create without process: %s (we differ)", out)
		}
	}
}

// pinMountNamespace makes a new mount namespace (a copy of this one, all
// private) and binds its nsfs file on path, so it outlives its process.
// The bind now and then fails with EINVAL on this 6.18 kernel under load
// (util-linux's unshare --mount=FILE too): a new namespace is tried then.
func pinMountNamespace(t *testing.T, path string) {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 10; try++ {
		holder := exec.Command("sleep", "100")
		holder.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		// The child unshares between fork and exec: until then its
		// namespace is ours, and binding that into itself is EINVAL.
		ns := fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)
		for i := 0; i < 200; i++ {
			if l, err := os.Readlink(ns); err != nil || l != self {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		err = syscall.Mount(ns, path, "", syscall.MS_BIND, "")
		holder.Process.Kill()
		holder.Wait()
		if err == nil {
			t.Cleanup(func() { syscall.Unmount(path, syscall.MNT_DETACH) })
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pin a mount namespace on %s: %v", path, err)
}

// Mount destinations resolve inside the rootfs, whatever symlinks the image
// holds (CVE-2021-30465): a destination through a link to "/" or up past
// the root lands in the rootfs's own directory, and the host's is left
// alone. Device nodes stay in /dev.
func TestRuntimeMountTargetStaysInRootfs(t *testing.T) {
	rtBin(t)
	host := t.TempDir()
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/link" + host + "/in", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/up/x", Type: "tmpfs", Source: "tmpfs"},
		)
	}, "sh", "-c", "grep -E ' (/tmp/in|/etc/x|"+host+"/in) ' /proc/self/mountinfo | cut -d' ' -f5 | sort")
	rootfs := filepath.Join(e.bundle, "rootfs")
	if err := os.Symlink("/", filepath.Join(rootfs, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../etc", filepath.Join(rootfs, "up")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.cmd(t, nil, "run", "links")
	if code != 0 {
		t.Fatalf("run: exit %d: %s%s", code, out, errOut)
	}
	if got, want := strings.Fields(out), []string{"/etc/x", host + "/in"}; !slices.Equal(got, want) {
		t.Errorf("mounts in the container at %v, want %v", got, want)
	}
	for _, p := range []string{filepath.Join(host, "in"), "/etc/x"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was made on the host", p)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, host, "in")); err != nil {
		t.Errorf("the target was not made in the rootfs: %v", err)
	}
}

// A NUL byte in the process's environment cannot reach execve: create
// fails saying so and leaves no container behind.
func TestRuntimeRefusesNULInEnv(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "BAD=a\x00b") }, "true")
	_, errOut, code := e.cmd(t, nil, "run", "nul")
	if code == 0 || !strings.Contains(errOut, "NUL byte") {
		t.Fatalf("exit %d: %q, want an error about the NUL byte", code, errOut)
	}
	if out, _, code := e.cmd(t, nil, "state", "nul"); code == 0 {
		t.Fatalf("a failed create left a container: %s", out)
	}
}
