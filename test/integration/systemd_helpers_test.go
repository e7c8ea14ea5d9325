package integration

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// privateSystemd is systemd running as PID 1 of a namespace set of the
// test's own: pid, mount, cgroup, uts, ipc and network namespaces. Its
// cgroup namespace is rooted at a cgroup the test made below its own in
// every hierarchy, and the hierarchies are mounted again inside (without
// the hybrid unified one on a v1 host, so systemd runs in legacy mode), so
// systemd owns a cgroup tree of its own and nothing of the host's. Its
// units are only the ones it makes on request: the boot target is an
// empty one of the test's.
type privateSystemd struct {
	// v2: systemd sees only a cgroup2 hierarchy (unified mode); on a v1
	// host it has no controllers, as in TestRuntimeCgroup2.
	v2      bool
	pid     int    // in the test's pid namespace
	log     string // systemd's console output
	cgroups []string
}

// startSystemd starts a private systemd and waits until its private D-Bus
// socket answers. It is stopped (SIGKILL to its PID 1 takes the whole pid
// namespace) and its cgroups removed when the test ends.
//
// With unified, only a cgroup2 hierarchy is mounted inside (on a v1 host:
// the one systemd then runs in unified mode on, without controllers).
func startSystemd(t *testing.T, unified bool) *privateSystemd {
	t.Helper()
	testprereq.Root(t)
	const systemd = "/lib/systemd/systemd"
	_, err := os.Stat(systemd)
	testprereq.Require(t, err == nil, "%s (Debian package systemd)", systemd)
	for _, tool := range []string{"unshare", "nsenter", "mount"} {
		_, err := exec.LookPath(tool)
		testprereq.Require(t, err == nil, "%s", tool)
	}
	dir := t.TempDir()
	units := filepath.Join(dir, "units")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(units, "berth-test.target"), []byte("[Unit]\nDescription=berth test: nothing started at boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := &privateSystemd{log: filepath.Join(dir, "systemd.log"), v2: unified}
	if !unified {
		_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
		sd.v2 = err == nil // a v2 host has no other kind
	}
	t.Cleanup(sd.removeCgroups)
	moveIn, mounts := sd.prepareCgroups(t)

	// PID 1 is a shell that moves itself into the test's cgroups, unshares
	// the cgroup namespace (rooted there) and execs a second shell which
	// mounts what systemd expects and execs systemd: still PID 1.
	inner := []string{"set -e", "mount -t proc proc /proc", "mount -t tmpfs -o mode=755 tmpfs /run"}
	inner = append(inner, mounts...)
	inner = append(inner, "exec "+systemd+" --unit=berth-test.target --log-target=console --log-level=info")
	outer := []string{"set -e", "mount --make-rprivate /"}
	for _, d := range moveIn {
		outer = append(outer, fmt.Sprintf("echo 0 > %s/cgroup.procs", d))
	}
	outer = append(outer, "exec unshare --cgroup /bin/sh -c '"+strings.Join(inner, "\n")+"'")
	logF, err := os.Create(sd.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logF.Close()
	cmd := exec.Command("/bin/sh", "-c", strings.Join(outer, "\n"))
	cmd.Stdout, cmd.Stderr = logF, logF
	// SYSTEMD_UNIT_PATH ending in ':' adds the default unit directories
	// (system.slice and friends) after the test's.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "container=berth-test", "SYSTEMD_UNIT_PATH=" + units + ":"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start systemd: %v", err)
	}
	sd.pid = cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(sd.log)
			t.Logf("systemd's output:\n%s", b)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		// systemctl as root talks to the private socket when there is no bus.
		out, err := sd.systemctl("show", "-p", "Version", "--value")
		if err == nil && out != "" {
			return sd
		}
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(sd.log)
			t.Fatalf("systemd's private socket did not answer in 60 s: %v\nsystemd's output:\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// prepareCgroups makes the test's cgroup below its own in every hierarchy
// (a cpuset one gets its parent's cpus and mems, or nothing may join it)
// and returns those directories and the commands that mount the
// hierarchies inside the new mount and cgroup namespaces.
func (sd *privateSystemd) prepareCgroups(t *testing.T) (moveIn, mounts []string) {
	t.Helper()
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	type mnt struct{ point, fstype, opts string }
	var cgMounts []mnt
	rootIsTmpfs := false
	sc := bufio.NewScanner(strings.NewReader(string(mi)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		i := 0
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+3 >= len(f) {
			continue
		}
		m := mnt{f[4], f[i+1], f[i+3]}
		if m.point == "/sys/fs/cgroup" && m.fstype == "tmpfs" {
			rootIsTmpfs = true
		}
		if (m.fstype == "cgroup" || m.fstype == "cgroup2") && strings.HasPrefix(m.point, "/sys/fs/cgroup") {
			cgMounts = append(cgMounts, m)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "berth-sdtest-" + hex.EncodeToString(b)
	if rootIsTmpfs {
		mounts = append(mounts, "mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup")
	}
	for _, l := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var m *mnt
		for i := range cgMounts {
			c := &cgMounts[i]
			if parts[1] == "" && c.fstype == "cgroup2" {
				m = c
				break
			}
			if parts[1] != "" && c.fstype == "cgroup" && hasAll(c.opts, parts[1]) {
				m = c
				break
			}
		}
		if m == nil {
			continue
		}
		d := filepath.Join(m.point, parts[2], name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		sd.cgroups = append(sd.cgroups, d)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), v, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		moveIn = append(moveIn, d)
		switch {
		case m.fstype == "cgroup":
			opts := parts[1]
			if strings.HasPrefix(opts, "name=") {
				opts = "none," + opts
			}
			mounts = append(mounts, fmt.Sprintf("mkdir -p %s", m.point), fmt.Sprintf("mount -t cgroup -o %s cgroup %s", opts, m.point))
		case m.point == "/sys/fs/cgroup":
			mounts = append(mounts, "mount -t cgroup2 cgroup2 /sys/fs/cgroup")
		}
		// A hybrid host's unified hierarchy is not mounted inside: systemd
		// runs in legacy mode there.
	}
	if sd.v2 {
		mounts = []string{"mount -t cgroup2 cgroup2 /sys/fs/cgroup"}
	}
	if len(moveIn) == 0 {
		t.Fatalf("no cgroup hierarchy found in /proc/self/cgroup:\n%s", own)
	}
	return moveIn, mounts
}

// hasAll reports whether the mount options hold every controller of list.
func hasAll(opts, list string) bool {
	have := map[string]bool{}
	for _, o := range strings.Split(opts, ",") {
		have[o] = true
	}
	for _, c := range strings.Split(list, ",") {
		if !have[c] {
			return false
		}
	}
	return true
}

// removeCgroups removes the test's cgroups and everything systemd made
// below them, deepest first (a dying task can keep one busy briefly).
func (sd *privateSystemd) removeCgroups() {
	for _, top := range sd.cgroups {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for try := 0; try < 100; try++ {
				err := syscall.Rmdir(dirs[i])
				if err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// path is p as seen in systemd's mount namespace.
func (sd *privateSystemd) path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", sd.pid, p)
}

// systemctl runs systemctl in systemd's namespaces, where the runtime
// runs too. (A D-Bus client in the test's own pid namespace, dialling
// the socket through /proc/PID/root, was hung up on during authentication:
// "sendmsg: broken pipe".)
func (sd *privateSystemd) systemctl(args ...string) (string, error) {
	w := sd.wrap()
	b, err := exec.Command(w[0], append(append(w[1:], "systemctl", "--no-pager"), args...)...).CombinedOutput()
	return strings.TrimSpace(string(b)), err
}

// props are unit's properties as systemctl show prints them.
func (sd *privateSystemd) props(t *testing.T, unit string, names ...string) map[string]string {
	t.Helper()
	out, err := sd.systemctl("show", "-p", strings.Join(names, ","), unit)
	if err != nil {
		t.Fatalf("systemctl show %s: %v: %s", unit, err, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// wrap is the command that runs a program in systemd's mount, pid and
// cgroup namespaces, as a process of that "host".
func (sd *privateSystemd) wrap() []string {
	return []string{"nsenter", "--target", fmt.Sprint(sd.pid), "--mount", "--pid", "--cgroup", "--"}
}

// unitState is the load and active state systemd reports for unit.
func (sd *privateSystemd) unitState(t *testing.T, unit string) (load, active string) {
	t.Helper()
	p := sd.props(t, unit, "LoadState", "ActiveState")
	return p["LoadState"], p["ActiveState"]
}
