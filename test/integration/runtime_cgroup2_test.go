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

	"github.com/berthd/berth/pkg/testprereq"
)

// TestRuntimeCgroup2 runs the runtime on cgroup v2 on any host. On a v1 (or
// hybrid) host the test runs again in a private mount namespace where the
// unified hierarchy is mounted over /sys/fs/cgroup: it has no controllers
// there (v1 holds them), but device programs, cgroup.freeze and cgroup.kill
// need none, and the runtime sees a v2-only host. The host's own
// /sys/fs/cgroup is untouched.
func TestRuntimeCgroup2(t *testing.T) {
	rtBin(t)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		fs, _ := os.ReadFile("/proc/filesystems")
		testprereq.Require(t, strings.Contains(string(fs), "\tcgroup2\n"), "cgroup2 in /proc/filesystems")
		if !inPrivateMountNS(t) {
			return
		}
		if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
			t.Fatalf("mount cgroup2 in the private namespace: %v", err)
		}
	}
	t.Run("DeviceFilter", testCgroup2DeviceFilter)
	t.Run("PauseResume", testCgroup2PauseResume)
	t.Run("KillAllAndDelete", testCgroup2KillAllAndDelete)
	t.Run("MountInContainer", testCgroup2MountInContainer)
}

// cgroup2Dir is pid's directory in the unified hierarchy.
func cgroup2Dir(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			if !strings.Contains(p, "/berth/") {
				t.Fatalf("pid %d is in v2 cgroup %s, not below berth/", pid, p)
			}
			return filepath.Join("/sys/fs/cgroup", p)
		}
	}
	t.Fatalf("pid %d has no v2 cgroup:\n%s", pid, b)
	return ""
}

// hostBlockDevice is a block device of the host (a loop device if there
// is one): major and minor.
func hostBlockDevice(t *testing.T) (int64, int64) {
	t.Helper()
	ents, err := os.ReadDir("/sys/dev/block")
	if err != nil || len(ents) == 0 {
		testprereq.Require(t, false, "a block device in /sys/dev/block")
	}
	pick := ents[0].Name()
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join("/sys/dev/block", e.Name())); strings.Contains(l, "/loop") {
			pick = e.Name()
			break
		}
	}
	maj, min, _ := strings.Cut(pick, ":")
	a, err1 := strconv.ParseInt(maj, 10, 64)
	b, err2 := strconv.ParseInt(min, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("device %q", pick)
	}
	return a, b
}

// A default container with CAP_MKNOD may make a node of a host block device
// (runc's defaults allow "m" for every device, as Docker's do) but not open
// it; /dev/null opens. The same container whose spec allows reading that
// device opens it: the eBPF program is what decides.
func testCgroup2DeviceFilter(t *testing.T) {
	maj, min := hostBlockDevice(t)
	script := fmt.Sprintf("exec 2>&1; mknod /dev/blk b %d %d && echo made; true </dev/blk && echo opened; true >/dev/null && echo null-ok", maj, min)
	withMknod := func(s *specs.Spec) {
		s.Root.Readonly = false
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_MKNOD")
		c.Effective = append(c.Effective, "CAP_MKNOD")
		c.Permitted = append(c.Permitted, "CAP_MKNOD")
	}
	type result struct{ ours, runc string }
	run := func(name string, mutate func(*specs.Spec)) result {
		e := newRtEnv(t, func(s *specs.Spec) { withMknod(s); mutate(s) }, "sh", "-c", script)
		id := "cg2dev-" + name
		out, errOut, code := e.cmd(t, nil, "run", id)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s%s", id, code, out, errOut)
		}
		var r result
		r.ours = out
		if runc, err := exec.LookPath("runc"); err == nil {
			c := exec.Command(runc, "--root", filepath.Join(e.dir, "runc"), "run", "--bundle", e.bundle, id+"-runc")
			b, err := c.CombinedOutput()
			if err != nil {
				t.Fatalf("runc %s: %v: %s", id, err, b)
			}
			r.runc = string(b)
		}
		return r
	}
	denied := run("deny", func(*specs.Spec) {})
	if !strings.Contains(denied.ours, "made\n") || strings.Contains(denied.ours, "opened") ||
		!strings.Contains(denied.ours, "Operation not permitted") || !strings.Contains(denied.ours, "null-ok") {
		t.Fatalf("default devices: the host block device %d:%d must be made but not opened, /dev/null opened:\n%s", maj, min, denied.ours)
	}
	permitted := run("allow", func(s *specs.Spec) {
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "b", Major: &maj, Minor: &min, Access: "r"})
	})
	if want := "made\nopened\nnull-ok\n"; permitted.ours != want {
		t.Fatalf("device allowed for reading: %q, want %q", permitted.ours, want)
	}
	for _, r := range []result{denied, permitted} {
		if r.runc != "" && r.runc != r.ours {
			t.Errorf("runc differs:\nours %q\nrunc %q", r.ours, r.runc)
		}
	}
}

// Pause freezes the container's cgroup: a counter it keeps writing stops
// while paused and goes on after resume.
func testCgroup2PauseResume(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) { s.Root.Readonly = false },
		"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done")
	id := "cg2pause"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	dir := cgroup2Dir(t, e.state(t, id).Pid)
	counter := filepath.Join(e.bundle, "rootfs", "tmp", "n")
	read := func() string { b, _ := os.ReadFile(counter); return string(b) }
	waitCounterMoves := func(what string) {
		t.Helper()
		first := read()
		deadline := time.Now().Add(10 * time.Second)
		for read() == first || read() == "" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the counter does not move (%q)", what, first)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCounterMoves("running")
	e.must(t, "pause", id)
	if st := e.state(t, id); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.events")); !strings.Contains(string(b), "frozen 1") {
		t.Fatalf("paused, cgroup.events:\n%s", b)
	}
	// The shell may be mid-write when frozen: compare two reads after it.
	before := read()
	time.Sleep(300 * time.Millisecond)
	if after := read(); after != before {
		t.Fatalf("the counter moved while paused: %q -> %q", before, after)
	}
	e.must(t, "resume", id)
	if st := e.state(t, id); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	waitCounterMoves("resumed")
	e.must(t, "delete", "--force", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s left after delete --force: %v", dir, err)
	}
}

// kill --all KILL of a paused container without a pid namespace: only
// cgroup.kill kills frozen processes without thawing them, so every process
// dies while cgroup.freeze stays 1. delete then removes the cgroup.
func testCgroup2KillAllAndDelete(t *testing.T) {
	e := newRtEnv(t, withoutNamespace(specs.PIDNamespace), "sh", "-c", "sleep 100 & sleep 100 & wait")
	id := "cg2kill"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	dir := cgroup2Dir(t, e.state(t, id).Pid)
	procs := func() []string {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(procs()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("cgroup.procs %v, want sh and two sleeps", procs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pids := procs()
	e.must(t, "pause", id)
	e.must(t, "kill", "--all", id, "KILL")
	deadline = time.Now().Add(5 * time.Second)
	for len(procs()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v left of %v after kill --all", procs(), pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("cgroup.freeze %q after kill --all of a paused container: it was thawed, not killed through cgroup.kill", b)
	}
	waitStatus(t, e, id, "stopped")
	e.must(t, "delete", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s left after delete: %v", dir, err)
	}
}

// The spec's "cgroup" mount shows the container its own v2 cgroup: with a
// cgroup namespace as its root, without one as a bind of its directory.
func testCgroup2MountInContainer(t *testing.T) {
	for _, cgns := range []bool{true, false} {
		e := newRtEnv(t, func(s *specs.Spec) {
			if cgns {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
			}
		}, "sh", "-c", "grep ^0:: /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.freeze; wc -l < /sys/fs/cgroup/cgroup.procs")
		id := fmt.Sprintf("cg2mount-%v", cgns)
		out := e.must(t, "run", id)
		want := "0::/berth/" + id + "\n0\n1\n"
		if cgns {
			want = "0::/\n0\n1\n"
		}
		if out != want {
			t.Errorf("cgroup namespace %v: %q, want %q", cgns, out, want)
		}
	}
}
