// Package cgroups places a container into cgroups (v1 or the unified v2
// hierarchy) below the caller's own cgroup and applies its resource limits.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	ocgroups "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Root is where cgroup hierarchies are mounted. A variable for tests.
var Root = "/sys/fs/cgroup"

// Warnf reports a setting this host cannot apply where the runtime spec
// lets the runtime go on (hugetlb, net_cls, net_prio, kernel memory).
var Warnf = func(format string, args ...any) {}

// Manager knows the directories of one container's cgroups. Its fields are
// stored in the container's state so later commands need not recompute them.
type Manager struct {
	// V1 maps a hierarchy name ("memory", "cpu,cpuacct", "pids") to the
	// container's cgroup directory in it.
	V1 map[string]string `json:"v1,omitempty"`
	// V2 is the container's directory in the unified hierarchy (v2-only hosts).
	V2 string `json:"v2,omitempty"`
	// Created lists directories this manager made, deepest last, so Destroy
	// removes exactly those.
	Created []string `json:"-"`
	// Systemd is set when systemd made the cgroups (--systemd-cgroup): V1
	// or V2 are then the unit's directories.
	Systemd *Systemd `json:"systemd,omitempty"`
	// lib manages the systemd unit (made when first needed).
	lib ocgroups.Manager
}

// v1Controllers are the hierarchies berth places containers in.
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "net_prio", "hugetlb", "perf_event"}

// IsV2 reports whether the host uses the unified hierarchy only.
func IsV2() bool {
	_, err := os.Stat(filepath.Join(Root, "cgroup.controllers"))
	return err == nil
}

// ownCgroups parses /proc/self/cgroup: hierarchy name -> path ("" key for v2).
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		res[parts[1]] = parts[2]
	}
	return res, s.Err()
}

// Resolve computes the container's cgroup directories for cgroupsPath. An
// absolute path is taken from the hierarchy root; a relative or empty one
// (default "berth/<id>") is placed below the caller's own cgroup.
func Resolve(cgroupsPath, id string) (*Manager, error) {
	if cgroupsPath == "" {
		cgroupsPath = "berth/" + id
	}
	if strings.Contains(cgroupsPath, ":") {
		return nil, fmt.Errorf("cgroupsPath %q is systemd's slice:prefix:name: pass --systemd-cgroup to use it (or give a cgroupfs path)", cgroupsPath)
	}
	if cleaned := filepath.Clean("/" + cgroupsPath); strings.Contains(cgroupsPath, "..") && cleaned != filepath.Clean(cgroupsPath) && !strings.HasPrefix(cgroupsPath, "/") {
		return nil, fmt.Errorf("cgroupsPath %q must not contain ..", cgroupsPath)
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	join := func(base string) string {
		if filepath.IsAbs(cgroupsPath) {
			return filepath.Clean(cgroupsPath)
		}
		return filepath.Join("/", base, cgroupsPath)
	}
	m := &Manager{}
	if IsV2() {
		m.V2 = filepath.Join(Root, join(own[""]))
		return m, nil
	}
	m.V1 = map[string]string{}
	seen := map[string]bool{}
	for hier, p := range own {
		if hier == "" || strings.HasPrefix(hier, "name=") {
			continue
		}
		dir := filepath.Join(Root, hier)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		m.V1[hier] = filepath.Join(dir, join(p))
		for _, c := range strings.Split(hier, ",") {
			seen[c] = true
		}
	}
	// Controllers mounted but absent from /proc/self/cgroup: use the root.
	for _, c := range v1Controllers {
		if seen[c] {
			continue
		}
		if _, err := os.Stat(filepath.Join(Root, c, "cgroup.procs")); err == nil {
			m.V1[c] = filepath.Join(Root, c, join("/"))
		}
	}
	return m, nil
}

// Dirs returns every cgroup directory of the container.
func (m *Manager) Dirs() []string {
	var d []string
	if m.V2 != "" {
		d = append(d, m.V2)
	}
	for _, p := range m.V1 {
		d = append(d, p)
	}
	return d
}

func (m *Manager) dir(ctrl string) string {
	if m.V2 != "" {
		return m.V2
	}
	if p, ok := m.V1[ctrl]; ok {
		return p
	}
	for h, p := range m.V1 {
		for _, c := range strings.Split(h, ",") {
			if c == ctrl {
				return p
			}
		}
	}
	return ""
}

// Create makes the directories (and for cpuset, fills cpus and mems of every
// directory it creates from its parent) and applies res if it is not nil.
// Under systemd there is nothing to make before init exists: ApplyInit
// starts the unit.
func (m *Manager) Create(res *specs.LinuxResources) error {
	if m.Systemd != nil {
		if res != nil {
			return errors.New("cgroup limits before the systemd unit exists")
		}
		return nil
	}
	for h, p := range m.V1 {
		if err := m.mkdirAll(p, strings.Contains(h, "cpuset")); err != nil {
			return err
		}
	}
	if m.V2 != "" {
		if err := m.mkdirAll(m.V2, false); err != nil {
			return err
		}
	}
	return m.Set(res)
}

// Set applies the resources to the container's cgroups.
func (m *Manager) Set(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if m.Systemd != nil {
		if err := m.setSystemd(res); err != nil {
			return err
		}
	}
	if m.V2 != "" {
		return m.applyV2(res)
	}
	return m.applyV1(res)
}

func (m *Manager) mkdirAll(p string, cpuset bool) error {
	if _, err := os.Stat(p); err != nil {
		if err := m.mkdir(p, cpuset); err != nil {
			return err
		}
	}
	if cpuset {
		return fillCpuset(p)
	}
	return nil
}

func (m *Manager) mkdir(p string, cpuset bool) error {
	parent := filepath.Dir(p)
	if parent != p {
		if err := m.mkdirAll(parent, cpuset); err != nil {
			return err
		}
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	m.Created = append(m.Created, p)
	if m.V2 != "" && strings.HasPrefix(m.V2, p) && p != m.V2 {
		// An intermediate dir we made ourselves: delegate the controllers on to our child.
		if b, err := os.ReadFile(filepath.Join(p, "cgroup.controllers")); err == nil {
			var on []string
			for _, c := range strings.Fields(string(b)) {
				on = append(on, "+"+c)
			}
			_ = writeFile(p, "cgroup.subtree_control", strings.Join(on, " "))
		}
	}
	return nil
}

// fillCpuset gives a v1 cpuset directory with no cpus or mems its parent's
// (filled first the same way): a process cannot join an empty cpuset
// (ENOSPC). Checked on directories we did not make too: another runtime may
// have just made a shared parent and not filled it yet, and its empty
// values would be copied down.
func fillCpuset(p string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(p, f))
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			continue
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("cgroup %s has no %s", p, f)
		}
		if err := fillCpuset(parent); err != nil {
			return err
		}
		if b, err = os.ReadFile(filepath.Join(parent, f)); err != nil {
			return err
		}
		if err := writeFile(p, f, strings.TrimSpace(string(b))); err != nil {
			return err
		}
	}
	return nil
}

// Apply moves pid into every cgroup of the container (under systemd, into
// the unit's).
func (m *Manager) Apply(pid int) error {
	dirs := m.Dirs()
	if m.Systemd != nil {
		dirs = m.systemdDirs()
	}
	for _, d := range dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(dir, file, data string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", data, p, err)
	}
	return nil
}

func (m *Manager) write(ctrl, file, data string) error {
	d := m.dir(ctrl)
	if d == "" {
		return fmt.Errorf("cgroup controller %s is not mounted, cannot set %s", ctrl, file)
	}
	return writeFile(d, file, data)
}

func (m *Manager) applyV1(r *specs.LinuxResources) error {
	if len(r.Unified) > 0 {
		return errors.New("linux.resources.unified needs cgroup v2; this host uses v1")
	}
	if mem := r.Memory; mem != nil {
		if err := m.checkBeforeUpdate(mem, "memory.usage_in_bytes"); err != nil {
			return err
		}
		if err := m.setMemoryAndSwapV1(mem); err != nil {
			return err
		}
		if mem.Reservation != nil {
			if err := m.write("memory", "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
				return err
			}
		}
		if mem.Swappiness != nil && *mem.Swappiness <= 100 {
			if err := m.write("memory", "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
				return err
			}
		}
		if mem.DisableOOMKiller != nil {
			// Written either way: an update may turn the OOM killer back on.
			v := "0"
			if *mem.DisableOOMKiller {
				v = "1"
			}
			if err := m.write("memory", "memory.oom_control", v); err != nil {
				return err
			}
		}
		kmemIgnored(mem)
	}
	if p := r.Pids; p != nil {
		v := "max"
		if p.Limit != nil && *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		if err := m.write("pids", "pids.max", v); err != nil {
			return err
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := m.write("cpu", "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
				return err
			}
		}
		if c.Period != nil && *c.Period != 0 {
			if err := m.write("cpu", "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)); err != nil {
				return err
			}
		}
		if c.Quota != nil && *c.Quota != 0 {
			if err := m.write("cpu", "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); err != nil {
				return err
			}
		}
		if c.Burst != nil {
			if err := m.write("cpu", "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		// The realtime period first: the runtime must fit into it.
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			if err := m.write("cpu", "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
				return fmt.Errorf("cpu realtime period: %w", err)
			}
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			if err := m.write("cpu", "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
				return fmt.Errorf("cpu realtime runtime: %w", err)
			}
		}
		if c.Idle != nil {
			if err := m.write("cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := m.write("cpuset", "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := m.write("cpuset", "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		if err := m.write("blkio", "blkio.weight", strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			// Not every I/O scheduler has weights; runc errors too, but say why.
			return fmt.Errorf("blkio weight: %w", err)
		}
	}
	if b := r.BlockIO; b != nil {
		for _, t := range []struct {
			file string
			devs []specs.LinuxThrottleDevice
		}{{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice}, {"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice}, {"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice}} {
			for _, d := range t.devs {
				if err := m.write("blkio", t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
					return err
				}
			}
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				if err := m.write("blkio", "blkio.weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range r.HugepageLimits {
		if m.dir("hugetlb") == "" {
			Warnf("hugepage limit %s ignored: no hugetlb cgroup on this host", h.Pagesize)
			continue
		}
		if err := m.write("hugetlb", "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			if m.dir("net_cls") == "" {
				Warnf("network classID ignored: no net_cls cgroup on this host")
			} else if err := m.write("net_cls", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
				return err
			}
		}
		for _, p := range n.Priorities {
			if m.dir("net_prio") == "" {
				Warnf("network priority of %s ignored: no net_prio cgroup on this host", p.Name)
				continue
			}
			if err := m.write("net_prio", "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	if len(r.Devices) > 0 && m.dir("devices") != "" {
		for _, d := range r.Devices {
			if d.Type == "p" {
				continue // v1 has no rules for FIFOs and rejects them
			}
			file := "devices.deny"
			if d.Allow {
				file = "devices.allow"
			}
			if err := m.write("devices", file, deviceRule(d)); err != nil {
				return err
			}
		}
	}
	return nil
}

func deviceRule(d specs.LinuxDeviceCgroup) string {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	if typ == "a" {
		return "a"
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access)
}

func (m *Manager) applyV2(r *specs.LinuxResources) error {
	if mem := r.Memory; mem != nil {
		if err := m.checkBeforeUpdate(mem, "memory.current"); err != nil {
			return err
		}
		if mem.Limit != nil {
			v := "max"
			if *mem.Limit > 0 {
				v = strconv.FormatInt(*mem.Limit, 10)
			}
			if err := m.write("memory", "memory.max", v); err != nil {
				return err
			}
			// v2 limits swap alone; the spec's swap is memory+swap.
			if mem.Swap != nil && (*mem.Swap == -1 || *mem.Swap > 0 && *mem.Limit > 0) {
				sw := "max"
				if *mem.Swap > 0 {
					if *mem.Swap < *mem.Limit {
						return fmt.Errorf("memory+swap limit %d is below the memory limit %d", *mem.Swap, *mem.Limit)
					}
					sw = strconv.FormatInt(*mem.Swap-*mem.Limit, 10)
				}
				if err := m.write("memory", "memory.swap.max", sw); err != nil {
					return err
				}
			}
		}
		if mem.Reservation != nil && *mem.Reservation > 0 {
			if err := m.write("memory", "memory.low", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
				return err
			}
		}
	}
	if p := r.Pids; p != nil {
		v := "max"
		if p.Limit != nil && *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		if err := m.write("pids", "pids.max", v); err != nil {
			return err
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := m.write("cpu", "cpu.weight", strconv.FormatUint(sharesToWeight(*c.Shares), 10)); err != nil {
				return err
			}
		}
		if c.Quota != nil || c.Period != nil {
			q, per := "max", uint64(100000)
			if c.Quota != nil && *c.Quota > 0 {
				q = strconv.FormatInt(*c.Quota, 10)
			}
			if c.Period != nil && *c.Period != 0 {
				per = *c.Period
			}
			if err := m.write("cpu", "cpu.max", fmt.Sprintf("%s %d", q, per)); err != nil {
				return err
			}
		}
		if c.Burst != nil {
			if err := m.write("cpu", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		if c.Idle != nil {
			if err := m.write("cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
		if (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) || (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) {
			return errors.New("cpu realtime period and runtime need cgroup v1: cgroup v2 has no realtime group scheduling")
		}
		if c.Cpus != "" {
			if err := m.write("cpuset", "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := m.write("cpuset", "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		w := 1 + (uint64(*b.Weight)-10)*9999/990
		if err := m.write("io", "io.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if b := r.BlockIO; b != nil {
		// io.max takes one line per device with any of its four limits.
		for _, t := range []struct {
			key  string
			devs []specs.LinuxThrottleDevice
		}{{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice}} {
			for _, d := range t.devs {
				if err := m.write("io", "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, t.key, d.Rate)); err != nil {
					return err
				}
			}
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				w := 1 + (uint64(*d.Weight)-10)*9999/990
				if err := m.write("io", "io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, w)); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range r.HugepageLimits {
		if err := m.write("hugetlb", "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		Warnf("network classID/priorities ignored: cgroup v2 has no net_cls or net_prio")
	}
	if r.Memory != nil {
		kmemIgnored(r.Memory)
	}
	if len(r.Unified) > 0 {
		keys := make([]string, 0, len(r.Unified))
		for k := range r.Unified {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.ContainsRune(k, '/') || !strings.Contains(k, ".") {
				return fmt.Errorf("unified: invalid cgroup file name %q", k)
			}
			if err := writeFile(m.V2, k, r.Unified[k]); err != nil {
				return fmt.Errorf("unified %s: %w", k, err)
			}
		}
	}
	return setDevicesV2(m.V2, r.Devices)
}

// sharesToWeight is runc's conversion of cpu shares [2, 262144] to a v2
// weight [1, 10000].
func sharesToWeight(shares uint64) uint64 { return 1 + ((shares-2)*9999)/262142 }

// setMemoryAndSwapV1 writes the memory and memory+swap limits in the order
// the kernel accepts: the memory limit may never exceed memsw, so when both
// grow (or swap becomes unlimited) memsw goes first.
func (m *Manager) setMemoryAndSwapV1(mem *specs.LinuxMemory) error {
	limit := func() error {
		if mem.Limit == nil {
			return nil
		}
		return m.write("memory", "memory.limit_in_bytes", strconv.FormatInt(*mem.Limit, 10))
	}
	swap := func() error {
		if mem.Swap == nil {
			return nil
		}
		return m.write("memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(*mem.Swap, 10))
	}
	if mem.Limit != nil && mem.Swap != nil {
		cur, err := m.readInt("memory", "memory.limit_in_bytes")
		if err == nil && (*mem.Swap == -1 || cur < *mem.Swap) {
			if err := swap(); err != nil {
				return err
			}
			return limit()
		}
	}
	if err := limit(); err != nil {
		return err
	}
	return swap()
}

// checkBeforeUpdate refuses a memory limit below the current usage when the
// spec asks for it (linux.resources.memory.checkBeforeUpdate): lowering it
// would make the kernel reclaim or OOM-kill instead.
func (m *Manager) checkBeforeUpdate(mem *specs.LinuxMemory, usageFile string) error {
	if mem.CheckBeforeUpdate == nil || !*mem.CheckBeforeUpdate || mem.Limit == nil || *mem.Limit <= 0 {
		return nil
	}
	usage, err := m.readInt("memory", usageFile)
	if err != nil {
		return err
	}
	if usage > *mem.Limit {
		return fmt.Errorf("memory limit %d is below the current usage %d (checkBeforeUpdate)", *mem.Limit, usage)
	}
	return nil
}

// readInt reads a number from a control file ("max" is -1).
func (m *Manager) readInt(ctrl, file string) (int64, error) {
	d := m.dir(ctrl)
	if d == "" {
		return 0, fmt.Errorf("cgroup controller %s is not mounted, cannot read %s", ctrl, file)
	}
	b, err := os.ReadFile(filepath.Join(d, file))
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filepath.Join(d, file), err)
	}
	return n, nil
}

// kmemIgnored warns about kernel memory limits, which current kernels ignore
// (runtime-spec: "kernel" is deprecated).
func kmemIgnored(mem *specs.LinuxMemory) {
	if mem.Kernel != nil || mem.KernelTCP != nil {
		Warnf("kernel memory limits ignored: not supported by this kernel")
	}
}

// Pids lists the processes in the container's cgroups.
func (m *Manager) Pids() ([]int, error) {
	d := m.V2
	if d == "" {
		for _, c := range []string{"pids", "freezer", "memory", "cpu", "devices"} {
			if d = m.dir(c); d != "" {
				break
			}
		}
	}
	if d == "" {
		return nil, errors.New("no cgroup to list processes from")
	}
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Freeze freezes (or thaws) the container's processes.
func (m *Manager) Freeze(freeze bool) error {
	if m.V2 != "" {
		v := "0"
		if freeze {
			v = "1"
		}
		if err := writeFile(m.V2, "cgroup.freeze", v); err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(filepath.Join(m.V2, "cgroup.events"))
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "frozen "+v) {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		return errors.New("timeout waiting for cgroup freeze")
	}
	d := m.dir("freezer")
	if d == "" {
		return errors.New("freezer cgroup is not mounted")
	}
	want := "THAWED"
	if freeze {
		want = "FROZEN"
	}
	// FREEZING can last while tasks are busy in the kernel, and longer on a
	// loaded host: retry for a while rather than a fixed number of times.
	// A v1 freezer can stay FREEZING for good when it races a fork (the
	// child lands in the cgroup after the walk): as runc does, thaw and
	// freeze again now and then, which takes the new task in.
	deadline := time.Now().Add(10 * time.Second)
	tries := 0
	for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 20*time.Millisecond) {
		tries++
		if freeze && tries%25 == 0 {
			if err := writeFile(d, "freezer.state", "THAWED"); err != nil {
				return err
			}
		}
		if err := writeFile(d, "freezer.state", want); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(d, "freezer.state"))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == want {
			return nil
		}
		time.Sleep(wait)
	}
	return fmt.Errorf("timeout waiting for freezer state %s", want)
}

// Frozen reports whether the container's cgroup is frozen.
func (m *Manager) Frozen() bool {
	if m.V2 != "" {
		b, err := os.ReadFile(filepath.Join(m.V2, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	d := m.dir("freezer")
	if d == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(d, "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
}

// Destroy removes the container's own cgroup directories, retrying briefly
// while the kernel still counts dying tasks. Intermediate directories (such as
// "berth") are shared with other containers and stay.
func (m *Manager) Destroy() error {
	if m.Systemd != nil {
		return m.destroySystemd()
	}
	var firstErr error
	for _, d := range m.Dirs() {
		var err error
		for i := 0; i < 200; i++ {
			err = syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil && firstErr == nil {
			firstErr = &os.PathError{Op: "rmdir", Path: d, Err: err}
		}
	}
	return firstErr
}
