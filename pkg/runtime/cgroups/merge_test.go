package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMerge(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	cur := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Cpus: "0-1"},
		Pids:    &specs.LinuxPids{Limit: i64(100)},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1},
		}},
	}
	got, err := Merge(cur, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(32 << 20)},
		CPU:    &specs.LinuxCPU{Quota: i64(50000)},
		Pids:   &specs.LinuxPids{},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 2},
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 3},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Memory.Limit != 32<<20 || *got.Memory.Swap != 128<<20 {
		t.Errorf("memory %+v", got.Memory)
	}
	if *got.CPU.Shares != 1024 || *got.CPU.Quota != 50000 || got.CPU.Cpus != "0-1" {
		t.Errorf("cpu %+v", got.CPU)
	}
	if *got.Pids.Limit != 100 {
		t.Errorf("pids without a limit changed the limit: %+v", got.Pids)
	}
	if d := got.BlockIO.ThrottleReadBpsDevice; len(d) != 2 || d[0].Rate != 2 || d[1].Rate != 3 {
		t.Errorf("throttle devices %+v", d)
	}
	if len(got.Devices) != 1 {
		t.Errorf("device rules lost: %+v", got.Devices)
	}
	// cur is untouched.
	if *cur.Memory.Limit != 64<<20 || cur.CPU.Quota != nil || cur.BlockIO.ThrottleReadBpsDevice[0].Rate != 1 {
		t.Errorf("Merge changed its input: %+v", cur)
	}
	// Memory -1 without swap lifts the swap limit too.
	got, _ = Merge(cur, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}})
	if *got.Memory.Swap != -1 {
		t.Errorf("swap after memory -1: %d", *got.Memory.Swap)
	}
	for name, upd := range map[string]*specs.LinuxResources{
		"devices": {Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}},
		"kernel":  {Memory: &specs.LinuxMemory{Kernel: i64(1 << 20)}},
		"rdma":    {Rdma: map[string]specs.LinuxRdma{}},
	} {
		if _, err := Merge(cur, upd); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// fakeV1 makes a container's v1 memory, pids and cpu directories with the
// control files the kernel would create.
func fakeV1(t *testing.T) *Manager {
	root := t.TempDir()
	m := &Manager{V1: map[string]string{}}
	for ctrl, files := range map[string][]string{
		"memory": {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.usage_in_bytes"},
		"pids":   {"pids.max"},
		"cpu":    {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.rt_period_us", "cpu.rt_runtime_us"},
	} {
		d := filepath.Join(root, ctrl, "berth", "c1")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m.V1[ctrl] = d
	}
	return m
}

func readCg(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestUpdateV1Writes(t *testing.T) {
	m := fakeV1(t)
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	mem := m.V1["memory"]
	os.WriteFile(filepath.Join(mem, "memory.limit_in_bytes"), []byte("67108864\n"), 0o644)
	err := m.Set(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(256 << 20), Swap: i64(512 << 20), Reservation: i64(16 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(-1)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(-1), Period: u64(100000), RealtimePeriod: u64(1000000), RealtimeRuntime: i64(950000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range map[string]map[string]string{
		mem:          {"memory.limit_in_bytes": "268435456", "memory.memsw.limit_in_bytes": "536870912", "memory.soft_limit_in_bytes": "16777216"},
		m.V1["pids"]: {"pids.max": "max"},
		m.V1["cpu"]:  {"cpu.shares": "512", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000", "cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "950000"},
	} {
		for f, want := range files {
			if got := readCg(t, dir, f); got != want {
				t.Errorf("%s = %q, want %q", f, got, want)
			}
		}
	}
	// checkBeforeUpdate refuses a limit below the usage and writes nothing.
	os.WriteFile(filepath.Join(mem, "memory.usage_in_bytes"), []byte("50000000\n"), 0o644)
	check := true
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(40000000), CheckBeforeUpdate: &check}})
	if err == nil || !strings.Contains(err.Error(), "below the current usage") {
		t.Errorf("checkBeforeUpdate: %v", err)
	}
	if got := readCg(t, mem, "memory.limit_in_bytes"); got != "268435456" {
		t.Errorf("limit written despite the check: %s", got)
	}
	// A controller that is not mounted is an error that names it.
	delete(m.V1, "cpu")
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}); err == nil || !strings.Contains(err.Error(), "cpu") {
		t.Errorf("rt runtime without cpu controller: %v", err)
	}
}

// The order of the memory and memsw writes decides whether the kernel
// accepts them (memory.limit_in_bytes <= memory.memsw.limit_in_bytes at
// every step). The fake cannot enforce that; a memsw that cannot be
// written shows which of the two went first.
func TestMemorySwapOrder(t *testing.T) {
	m := fakeV1(t)
	mem := m.V1["memory"]
	i64 := func(v int64) *int64 { return &v }
	// Make memsw a directory so that writing it fails: the error tells
	// whether it was written before the memory limit.
	swapFile := filepath.Join(mem, "memory.memsw.limit_in_bytes")
	os.Remove(swapFile)
	os.Mkdir(swapFile, 0o755)
	os.WriteFile(filepath.Join(mem, "memory.limit_in_bytes"), []byte("67108864\n"), 0o644)
	// Growing: swap first, so the memory limit is not written.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(256 << 20), Swap: i64(512 << 20)}}); err == nil {
		t.Fatal("memsw write did not fail")
	}
	if got := readCg(t, mem, "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("growing: memory written before memsw (%s)", got)
	}
	// Shrinking: memory first.
	m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(16 << 20), Swap: i64(32 << 20)}})
	if got := readCg(t, mem, "memory.limit_in_bytes"); got != "16777216" {
		t.Errorf("shrinking: memory not written before memsw (%s)", got)
	}
}

func TestUpdateV2Swap(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"memory.max", "memory.swap.max", "memory.current"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	i64 := func(v int64) *int64 { return &v }
	m := &Manager{V2: dir}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := readCg(t, dir, "memory.swap.max"); got != "max" {
		t.Errorf("memory.swap.max = %q", got)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(16 << 20)}}); err == nil {
		t.Error("swap below memory accepted")
	}
	u64 := func(v uint64) *uint64 { return &v }
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64(1000)}}); err == nil || !strings.Contains(err.Error(), "realtime") {
		t.Errorf("realtime on v2: %v", err)
	}
}
