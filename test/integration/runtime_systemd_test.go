package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

// TestRuntimeSystemdCgroup runs the runtime with --systemd-cgroup against a
// real systemd, PID 1 of a namespace set the test makes (startSystemd):
// the runtime runs in systemd's mount, pid and cgroup namespaces as it
// would on a systemd host, and the test asks systemd over its private
// socket what it made.
func TestRuntimeSystemdCgroup(t *testing.T) {
	rtBin(t)
	sd := startSystemd(t, false)
	t.Run("ScopeLifecycle", func(t *testing.T) { testSystemdScopeLifecycle(t, sd) })
	t.Run("ForceDeleteRunning", func(t *testing.T) { testSystemdForceDelete(t, sd) })
	t.Run("BadCgroupsPath", func(t *testing.T) { testSystemdBadPath(t, sd) })
}

func sdEnv(t *testing.T, sd *privateSystemd, mutate func(*specs.Spec), args ...string) *rtEnv {
	e := newRtEnv(t, mutate, args...)
	e.wrap = sd.wrap()
	return e
}

// cgroupFile reads a file of the container's cgroup in one hierarchy by a
// process in systemd's namespaces (cgroup.procs shows the reader's pids).
func (sd *privateSystemd) cgroupFile(t *testing.T, hier, slice, unit, file string) string {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup", hier, slice, unit, file)
	b, err := exec.Command(sd.wrap()[0], append(sd.wrap()[1:], "cat", p)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cat %s: %v: %s", p, err, b)
	}
	return strings.TrimSpace(string(b))
}

// A container's init is in the scope systemd made (systemd says so for
// its pid), with the limits systemd has properties for set as properties
// and every limit in the files, the ones systemd has no property for
// included; pause, update and delete work on it, and delete stops the
// scope: systemd no longer knows it and its cgroups are gone.
func testSystemdScopeLifecycle(t *testing.T, sd *privateSystemd) {
	const id = "sdscope"
	unit := "berth-" + id + ".scope"
	i64 := func(v int64) *int64 { return &v }
	sw := uint64(10)
	e := sdEnv(t, sd, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "system.slice:berth:" + id
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swappiness: &sw}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(50)}
	}, "sleep", "1000")
	e.cleanup(t, id)
	e.must(t, "--systemd-cgroup", "create", "--bundle", e.bundle, id)
	pid := e.state(t, id).Pid

	// systemd's own word on where init is (GetUnitByPID).
	if out, err := sd.systemctl("status", strconv.Itoa(pid)); !strings.Contains(out, unit) {
		t.Fatalf("systemctl status %d (init, in systemd's pid namespace) does not name %s (%v):\n%s", pid, unit, err, out)
	}
	if load, active := sd.unitState(t, unit); load != "loaded" || active != "active" {
		t.Fatalf("%s: %s/%s, want loaded/active", unit, load, active)
	}
	memProp := "MemoryMax"
	if !sd.v2 {
		memProp = "MemoryLimit"
	}
	// Limits are set once init is ready: after create.
	props := sd.props(t, unit, "TasksMax", memProp, "Delegate")
	if props["TasksMax"] != "50" {
		t.Errorf("TasksMax %q, want 50", props["TasksMax"])
	}
	if props[memProp] != strconv.Itoa(64<<20) {
		t.Errorf("%s %q, want %d", memProp, props[memProp], 64<<20)
	}
	t.Logf("%s after create: %v", unit, props)
	if props["Delegate"] != "yes" {
		t.Errorf("Delegate %q, want yes", props["Delegate"])
	}
	if !sd.v2 {
		for file, want := range map[string]string{
			"memory.limit_in_bytes":      strconv.Itoa(64 << 20),
			"memory.soft_limit_in_bytes": strconv.Itoa(32 << 20), // no systemd property on v1
			"memory.swappiness":          "10",                   // no systemd property
		} {
			if got := sd.cgroupFile(t, "memory", "system.slice", unit, file); got != want {
				t.Errorf("%s: %q, want %q", file, got, want)
			}
		}
		if got := sd.cgroupFile(t, "pids", "system.slice", unit, "pids.max"); got != "50" {
			t.Errorf("pids.max %q", got)
		}
		// freezer is no hierarchy systemd manages: joined through cgroupfs.
		if procs := sd.cgroupFile(t, "freezer", "system.slice", unit, "cgroup.procs"); !strings.Contains("\n"+procs+"\n", "\n"+strconv.Itoa(pid)+"\n") {
			t.Errorf("freezer cgroup of the scope holds %q, not init %d", procs, pid)
		}
	}

	e.must(t, "start", id)
	e.must(t, "pause", id)
	if st := e.state(t, id).Status; st != "paused" {
		t.Errorf("after pause: %s", st)
	}
	e.must(t, "resume", id)
	if out := e.must(t, "exec", id, "echo", "exec-ok"); !strings.Contains(out, "exec-ok") {
		t.Errorf("exec printed %q", out)
	}
	e.must(t, "update", "--memory", "96m", "--pids-limit", "60", id)
	props = sd.props(t, unit, "TasksMax", memProp)
	if props[memProp] != strconv.Itoa(96<<20) {
		t.Errorf("after update %s %q, want %d", memProp, props[memProp], 96<<20)
	}
	if props["TasksMax"] != "60" {
		t.Errorf("after update TasksMax %q, want 60", props["TasksMax"])
	}

	e.must(t, "kill", id, "KILL")
	waitStopped(t, e, id)
	e.must(t, "delete", id)
	if load, active := sd.unitState(t, unit); load != "not-found" || active != "inactive" {
		t.Errorf("after delete %s is %s/%s, want not-found/inactive", unit, load, active)
	}
	for _, h := range []string{"memory", "pids", "freezer", "systemd"} {
		if _, err := os.Stat(sd.path(filepath.Join("/sys/fs/cgroup", h, "system.slice", unit))); !os.IsNotExist(err) && !sd.v2 {
			t.Errorf("after delete the scope's %s cgroup is still there (%v)", h, err)
		}
	}
}

// delete --force of a running container stops its scope.
func testSystemdForceDelete(t *testing.T, sd *privateSystemd) {
	const id = "sdforce"
	unit := "berth-" + id + ".scope"
	e := sdEnv(t, sd, nil, "sleep", "1000")
	e.cleanup(t, id)
	// No cgroupsPath: system.slice:berth:<id>, as runc's is system.slice:runc:<id>.
	e.editSpec(t, func(s *specs.Spec) { s.Linux.CgroupsPath = "" })
	e.must(t, "--systemd-cgroup", "create", "--bundle", e.bundle, id)
	e.must(t, "start", id)
	if _, active := sd.unitState(t, unit); active != "active" {
		t.Fatalf("%s: %s", unit, active)
	}
	e.must(t, "delete", "--force", id)
	if load, _ := sd.unitState(t, unit); load != "not-found" {
		t.Errorf("after delete --force %s is %s", unit, load)
	}
}

// A cgroupfs path with --systemd-cgroup is refused by name, and leaves no
// container and no unit.
func testSystemdBadPath(t *testing.T, sd *privateSystemd) {
	const id = "sdbad"
	e := sdEnv(t, sd, func(s *specs.Spec) { s.Linux.CgroupsPath = "berth/" + id }, "true")
	e.cleanup(t, id)
	_, errOut, code := e.cmd(t, nil, "--systemd-cgroup", "create", "--bundle", e.bundle, id)
	if code == 0 || !strings.Contains(errOut, "slice:prefix:name") || !strings.Contains(errOut, "berth/"+id) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Errorf("state of the refused container left: %v", err)
	}
	if load, _ := sd.unitState(t, "berth-"+id+".scope"); load != "not-found" {
		t.Errorf("a unit was made: %s", load)
	}
}

// TestRuntimeSystemdCgroupRefused: where systemd is not the init system,
// --systemd-cgroup is refused with an error that says so, and nothing is
// left behind.
func TestRuntimeSystemdCgroupRefused(t *testing.T) {
	rtBin(t)
	const id = "sdrefused"
	e := newRtEnv(t, nil, "true")
	if _, err := os.Lstat("/run/systemd/system"); err == nil {
		// A host booted with systemd: hide it from the runtime in a
		// mount namespace of its own, so the refusal is still shown.
		e.wrap = []string{"unshare", "-m", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs none /run/systemd && exec "$@"`, "sh"}
	}
	e.cleanup(t, id)
	_, errOut, code := e.cmd(t, nil, "--systemd-cgroup", "run", "--bundle", e.bundle, id)
	if code == 0 || !strings.Contains(errOut, "--systemd-cgroup: systemd is not running on this host") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Errorf("state of the refused container left: %v", err)
	}
}

// waitStopped waits until the container's state is stopped.
func waitStopped(t *testing.T, e *rtEnv, id string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if e.state(t, id).Status == "stopped" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not stop", id)
}

// TestRuntimeSystemdCgroupV2 is the same on the unified hierarchy (a v1
// host's cgroup2, without controllers: no limits here, those are the v1
// test's): the scope holds init, pause freezes it (cgroup.freeze), kill
// --all goes through cgroup.kill, and delete stops the scope.
func TestRuntimeSystemdCgroupV2(t *testing.T) {
	rtBin(t)
	fs, _ := os.ReadFile("/proc/filesystems")
	testprereq.Require(t, strings.Contains(string(fs), "\tcgroup2\n"), "cgroup2 in /proc/filesystems")
	sd := startSystemd(t, true)
	const id = "sdv2"
	unit := "berth-" + id + ".scope"
	e := sdEnv(t, sd, nil, "sleep", "1000")
	e.cleanup(t, id)
	e.editSpec(t, func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:berth:" + id })
	e.must(t, "--systemd-cgroup", "create", "--bundle", e.bundle, id)
	pid := e.state(t, id).Pid
	if out, err := sd.systemctl("status", strconv.Itoa(pid)); !strings.Contains(out, unit) {
		t.Fatalf("systemctl status %d does not name %s (%v):\n%s", pid, unit, err, out)
	}
	if p := sd.props(t, unit, "ControlGroup", "Delegate"); p["ControlGroup"] != "/system.slice/"+unit || p["Delegate"] != "yes" {
		t.Errorf("%s: %v", unit, p)
	}
	if procs := sd.cgroupFile(t, "", "system.slice", unit, "cgroup.procs"); strings.TrimSpace(procs) != strconv.Itoa(pid) {
		t.Errorf("cgroup.procs of the scope %q, want init %d", procs, pid)
	}
	e.must(t, "start", id)
	e.must(t, "pause", id)
	if f := sd.cgroupFile(t, "", "system.slice", unit, "cgroup.freeze"); f != "1" {
		t.Errorf("paused: cgroup.freeze %q", f)
	}
	e.must(t, "resume", id)
	if out := e.must(t, "exec", id, "echo", "exec-ok"); !strings.Contains(out, "exec-ok") {
		t.Errorf("exec printed %q", out)
	}
	e.must(t, "kill", "--all", id, "KILL")
	waitStopped(t, e, id)
	e.must(t, "delete", id)
	if load, _ := sd.unitState(t, unit); load != "not-found" {
		t.Errorf("after delete %s is %s", unit, load)
	}
	if _, err := os.Stat(sd.path("/sys/fs/cgroup/system.slice/" + unit)); !os.IsNotExist(err) {
		t.Errorf("after delete the scope's cgroup is still there (%v)", err)
	}
}
