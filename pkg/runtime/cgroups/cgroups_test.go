package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
	if err != nil {
		t.Skip(err)
	}
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
