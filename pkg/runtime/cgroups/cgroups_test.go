package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

func TestDeviceRule(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for want, d := range map[string]specs.LinuxDeviceCgroup{
		"a":           {Access: "rwm"},
		"c 1:3 rwm":   {Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},
		"c 136:* rwm": {Type: "c", Major: i(136)},
		"b *:* m":     {Type: "b", Access: "m"},
	} {
		if got := deviceRule(d); got != want {
			t.Errorf("deviceRule(%+v) = %q, want %q", d, got, want)
		}
	}
}

// fakeRoot makes a v1-looking hierarchy root with the given controllers.
func fakeRoot(t *testing.T, ctrls ...string) string {
	root := t.TempDir()
	for _, c := range ctrls {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, c, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := Root
	Root = root
	t.Cleanup(func() { Root = old })
	return root
}

func TestResolveBelowOwnCgroup(t *testing.T) {
	own, err := ownCgroups()
	testprereq.Require(t, err == nil, "own cgroups readable: %v", err)
	root := fakeRoot(t, "pids", "memory", "freezer")
	m, err := Resolve("", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if IsV2() {
		t.Fatal("fake v1 root detected as v2")
	}
	for h, p := range m.V1 {
		base := own[h]
		if base == "" {
			base = "/"
		}
		want := filepath.Join(root, h, base, "berth/c1")
		if p != want {
			t.Errorf("%s: %s, want %s", h, p, want)
		}
	}
	if len(m.V1) == 0 {
		t.Fatal("no hierarchies resolved")
	}
	abs, err := Resolve("/abs/x", "c1")
	if err != nil {
		t.Fatal(err)
	}
	for h, p := range abs.V1 {
		if p != filepath.Join(root, h, "abs/x") {
			t.Errorf("absolute path in %s: %s", h, p)
		}
	}
	if _, err := Resolve("system.slice:berth:c1", "c1"); err == nil {
		t.Error("systemd slice accepted")
	}
}

func TestCreateAppliesLimits(t *testing.T) {
	root := fakeRoot(t, "pids", "memory")
	m := &Manager{V1: map[string]string{
		"pids":   filepath.Join(root, "pids", "berth", "c1"),
		"memory": filepath.Join(root, "memory", "berth", "c1"),
	}}
	// cgroupfs creates the control files; emulate them after mkdir.
	for _, d := range m.V1 {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(m.V1["pids"], "pids.max"), nil, 0o644)
	os.WriteFile(filepath.Join(m.V1["memory"], "memory.limit_in_bytes"), nil, 0o644)
	lim, mem := int64(5), int64(1<<20)
	if err := m.Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &lim}, Memory: &specs.LinuxMemory{Limit: &mem}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(m.V1["pids"], "pids.max"))
	if strings.TrimSpace(string(b)) != "5" {
		t.Errorf("pids.max = %q", b)
	}
	b, _ = os.ReadFile(filepath.Join(m.V1["memory"], "memory.limit_in_bytes"))
	if strings.TrimSpace(string(b)) != "1048576" {
		t.Errorf("memory.limit_in_bytes = %q", b)
	}
	// A limit for an unmounted controller is an error, not silently dropped.
	shares := uint64(512)
	if err := m.Create(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}); err == nil {
		t.Error("cpu shares without a cpu hierarchy accepted")
	}
}

// v2: the limits land in the unified hierarchy's files. This host is v1 (a
// hybrid with an empty unified hierarchy), so this runs against a fake
// cgroupfs directory: it checks file names and values, not the kernel.
func TestApplyV2Files(t *testing.T) {
	dir := t.TempDir()
	files := []string{"memory.max", "memory.swap.max", "memory.low", "pids.max", "cpu.weight", "cpu.max",
		"cpuset.cpus", "cpuset.mems", "io.weight", "io.max", "hugetlb.2MB.max", "memory.high"}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var warnings []string
	old := Warnf
	Warnf = func(f string, a ...any) { warnings = append(warnings, f) }
	t.Cleanup(func() { Warnf = old })
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	u32 := func(v uint32) *uint32 { return &v }
	m := &Manager{V2: dir}
	err := m.applyV2(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(150 << 20), Reservation: i64(50 << 20), Kernel: i64(1)},
		Pids:   &specs.LinuxPids{Limit: i64(20)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network:        &specs.LinuxNetwork{ClassID: u32(7)},
		Unified:        map[string]string{"memory.high": "90000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"memory.max": "104857600", "memory.swap.max": "52428800", "memory.low": "52428800", "pids.max": "20",
		"cpu.weight": "39", "cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0",
		"io.weight": "4950", "io.max": "8:0 rbps=1048576", "hugetlb.2MB.max": "4194304", "memory.high": "90000000",
	} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	if len(warnings) != 2 {
		t.Errorf("warnings %q: want one for net_cls and one for kernel memory", warnings)
	}
	if err := m.applyV2(&specs.LinuxResources{Unified: map[string]string{"../x": "1"}}); err == nil {
		t.Error("unified key with a slash accepted")
	}
	// v1 refuses unified; hugetlb without its hierarchy is only a warning.
	v1 := &Manager{V1: map[string]string{"pids": dir}}
	if err := v1.applyV1(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); err == nil {
		t.Error("v1 accepted unified")
	}
	warnings = nil
	if err := v1.applyV1(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}},
		Network: &specs.LinuxNetwork{ClassID: u32(1), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 3 {
		t.Errorf("v1 warnings %q: want hugetlb, net_cls and net_prio", warnings)
	}
}

func TestFreezeV2(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cgroup.freeze"), nil, 0o644)
	// A fake cgroup.events that already reports the state asked for.
	os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 1\n"), 0o644)
	m := &Manager{V2: dir}
	if err := m.Freeze(true); err != nil {
		t.Fatal(err)
	}
	if !m.Frozen() {
		t.Error("not frozen after Freeze(true)")
	}
}

// A cpuset directory another runtime made but has not filled yet gets its
// parent's cpus and mems before they are copied down: copying its empty
// values made the container's cpuset refuse init (ENOSPC).
func TestFillCpusetFillsHalfMadeParents(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	b := filepath.Join(a, "b")
	if err := os.MkdirAll(b, 0o755); err != nil {
		t.Fatal(err)
	}
	for dir, v := range map[string][2]string{root: {"0-1", "0"}, a: {"", ""}, b: {"", "\n"}} {
		for i, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v[i]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fillCpuset(b); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{a, b} {
		for f, want := range map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"} {
			if got, _ := os.ReadFile(filepath.Join(dir, f)); string(got) != want {
				t.Errorf("%s/%s = %q, want %q", dir, f, got, want)
			}
		}
	}
	// A filled directory is left as it is.
	if err := os.WriteFile(filepath.Join(b, "cpuset.cpus"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fillCpuset(b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(b, "cpuset.cpus")); string(got) != "1" {
		t.Errorf("a filled cpuset.cpus became %q", got)
	}
}
