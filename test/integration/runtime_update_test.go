package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// `runtime update` with runc's flags changes the cgroup files, keeps what
// it is not given, and saves the limits in the container's state.
func TestRuntimeUpdateFlags(t *testing.T) {
	mem := int64(64 << 20)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &mem}
	}, "sleep", "100")
	id := "upd"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	pid := uint32(e.state(t, id).Pid)
	e.must(t, "update", "--memory", "32m", "--memory-swap", "48m", "--pids-limit", "20", "--cpu-share", "512", id)
	for f, want := range map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "50331648", "pids.max": "20", "cpu.shares": "512"} {
		if got := cgroupValue(t, pid, f); got != want {
			t.Errorf("%s = %s, want %s", f, got, want)
		}
	}
	for _, bad := range [][]string{
		{"update", "--kernel-memory", "10m", id},
		{"update", "--memory", "lots", id},
		{"update", "--l3-cache-schema", "L3:0=f", id},
		{"update", id},
		{"update", "--pids-limit", "5", "nosuch"},
	} {
		if _, errOut, code := e.cmd(t, nil, bad...); code == 0 {
			t.Errorf("%q accepted", bad)
		} else if strings.TrimSpace(errOut) == "" {
			t.Errorf("%q: no error message", bad)
		}
	}
	if got := cgroupValue(t, pid, "pids.max"); got != "20" {
		t.Errorf("pids.max after refused updates: %s", got)
	}
	// The saved state carries the merged limits.
	b, err := os.ReadFile(filepath.Join(e.root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Resources *specs.LinuxResources `json:"resources"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	r := st.Resources
	if r == nil || *r.Memory.Limit != 32<<20 || *r.Memory.Swap != 48<<20 || *r.Pids.Limit != 20 || *r.CPU.Shares != 512 || len(r.Devices) == 0 {
		t.Errorf("saved resources %+v", r)
	}
}
