package container

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeRunning saves the state of a "running" container whose init is this
// test process and whose cgroup is a fake v2 directory.
func fakeRunning(t *testing.T, res *specs.LinuxResources) (root, cg string) {
	t.Helper()
	root, cg = t.TempDir(), t.TempDir()
	for _, f := range []string{"memory.max", "memory.swap.max", "memory.current", "pids.max", "cpu.weight", "cpu.max", "cgroup.freeze"} {
		if err := os.WriteFile(filepath.Join(cg, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &State{State: specs.State{ID: "c1", Pid: os.Getpid(), Status: Running}, Cgroups: &cgroups.Manager{V2: cg},
		dir: filepath.Join(root, "c1")}
	if err := s.SetResources(res); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	return root, cg
}

func cgFile(t *testing.T, dir, f string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, f))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestUpdateMergesAppliesAndSaves(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	root, cg := fakeRunning(t, &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024)},
	})
	if err := Update(root, "c1", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20)}, Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	// memory.swap.max is swap alone: the saved memory+swap (128M) minus the new limit.
	for f, want := range map[string]string{"memory.max": "33554432", "memory.swap.max": "100663296", "pids.max": "20", "cpu.weight": "39"} {
		if got := cgFile(t, cg, f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	s, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != 128<<20 || *r.Pids.Limit != 20 || *r.CPU.Shares != 1024 || len(r.Devices) != 1 {
		b, _ := json.Marshal(r)
		t.Errorf("saved resources %s", b)
	}

	// A refused write restores the previous limits and keeps the state.
	os.Remove(filepath.Join(cg, "cpu.max"))
	err = Update(root, "c1", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}, CPU: &specs.LinuxCPU{Quota: i64(50000)}})
	if err == nil || !strings.Contains(err.Error(), "cpu.max") {
		t.Fatalf("update with cpu.max missing: %v", err)
	}
	if got := cgFile(t, cg, "pids.max"); got != "20" {
		t.Errorf("pids.max after a failed update: %s, want the previous 20", got)
	}
	s, err = Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Resources(); err != nil || *r.Pids.Limit != 20 || r.CPU.Quota != nil {
		t.Errorf("state saved after a failed update: %+v %v", r, err)
	}

	for _, bad := range []*specs.LinuxResources{
		{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}},
		{Memory: &specs.LinuxMemory{Kernel: i64(1)}},
	} {
		if err := Update(root, "c1", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("update %+v: %v", bad, err)
		}
	}
	if err := Update(root, "nope", &specs.LinuxResources{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown container: %v", err)
	}
}

func TestUpdateStopped(t *testing.T) {
	root, _ := fakeRunning(t, nil)
	s, _ := Load(root, "c1")
	s.Pid = 1 << 30 // no such process
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	if err := Update(root, "c1", &specs.LinuxResources{}); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("update of a stopped container: %v", err)
	}
}
