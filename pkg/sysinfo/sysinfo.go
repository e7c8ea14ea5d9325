// Package sysinfo reads what the host has and supports: memory, CPUs,
// the cgroup version and the limits its controllers can apply, the
// kernel and the distribution. supervisord answers it to its clients
// (Introspection.Host), so that engined reads none of the host's /proc or
// cgroup mounts itself; nothing here reads a container's cgroup, which
// only its shim does.
package sysinfo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroups is what the host's cgroups can limit, as dockerd's sysinfo
// finds it.
type Cgroups struct {
	Memory, Swap, CPUCfsPeriod, CPUCfsQuota, CPUShares, Cpuset, Pids, OOMKillDisable bool
	// CPURealtime is the real-time group scheduler (cpu.rt_runtime_us),
	// compiled out of most kernels.
	CPURealtime bool
}

// Host is the host's facts.
type Host struct {
	CgroupVersion string // "1" or "2"
	Cgroups       Cgroups
	MemTotal      int64 // bytes
	NCPU          int
	KernelVersion string
	// OperatingSystem and OSVersion are os-release's PRETTY_NAME (Linux
	// without one) and VERSION_ID.
	OperatingSystem, OSVersion string
	Architecture               string // uname's machine
}

// paths are where the facts are read; a test points them elsewhere.
type paths struct {
	proc, cgroup, osRelease string
}

var hostPaths = paths{proc: "/proc", cgroup: "/sys/fs/cgroup", osRelease: "/etc/os-release"}

// Read reads the host's facts. A fact that cannot be read is left zero:
// the host lacks it.
func Read() Host { return hostPaths.read() }

func (p paths) read() Host {
	h := Host{
		CgroupVersion:   "1",
		MemTotal:        p.memTotal(),
		NCPU:            runtime.NumCPU(),
		OperatingSystem: p.release("PRETTY_NAME"),
		OSVersion:       p.release("VERSION_ID"),
		Architecture:    runtime.GOARCH,
	}
	if h.OperatingSystem == "" {
		h.OperatingSystem = "Linux"
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		h.KernelVersion = unix.ByteSliceToString(u.Release[:])
		h.Architecture = unix.ByteSliceToString(u.Machine[:])
	}
	exists := func(rel string) bool { _, err := os.Stat(filepath.Join(p.cgroup, rel)); return err == nil }
	if p.cgroupV2() {
		h.CgroupVersion = "2"
		b, _ := os.ReadFile(filepath.Join(p.cgroup, "cgroup.controllers"))
		ctrl := " " + strings.TrimSpace(string(b)) + " "
		has := func(c string) bool { return strings.Contains(ctrl, " "+c+" ") }
		h.Cgroups = Cgroups{
			Memory: has("memory"), Swap: has("memory"), CPUCfsPeriod: has("cpu"), CPUCfsQuota: has("cpu"),
			CPUShares: has("cpu"), Cpuset: has("cpuset"), Pids: has("pids"),
		}
		return h
	}
	h.Cgroups = Cgroups{
		Memory:         exists("memory/memory.limit_in_bytes"),
		Swap:           exists("memory/memory.memsw.limit_in_bytes"),
		CPUCfsPeriod:   exists("cpu/cpu.cfs_period_us"),
		CPUCfsQuota:    exists("cpu/cpu.cfs_quota_us"),
		CPUShares:      exists("cpu/cpu.shares"),
		Cpuset:         exists("cpuset/cpuset.cpus"),
		Pids:           exists("pids"),
		OOMKillDisable: exists("memory/memory.oom_control"),
		CPURealtime:    exists("cpu/cpu.rt_runtime_us"),
	}
	return h
}

func (p paths) memTotal() int64 {
	f, err := os.Open(filepath.Join(p.proc, "meminfo"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (p paths) release(key string) string {
	data, err := os.ReadFile(p.osRelease)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// CgroupV2 tells whether the host's cgroups are v2 (unified) only.
func CgroupV2() bool { return hostPaths.cgroupV2() }

func (p paths) cgroupV2() bool {
	_, err := os.Stat(filepath.Join(p.cgroup, "cgroup.controllers"))
	return err == nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// SystemCPUNs is the host's CPU time (all CPUs, all modes but guest, which
// is counted in user) in ns: docker's system_cpu_usage.
func SystemCPUNs() (uint64, error) { return hostPaths.systemCPUNs() }

func (p paths) systemCPUNs() (uint64, error) {
	path := filepath.Join(p.proc, "stat")
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("system cpu time: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[0] != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq, as dockerd sums them.
		var ticks uint64
		for _, v := range fs[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %q: %w", path, v, err)
			}
			ticks += n
		}
		return ticks * (1e9 / clockTicks), nil
	}
	return 0, fmt.Errorf("parse %s: no cpu line", path)
}
