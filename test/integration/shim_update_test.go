package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

// cgroupValue reads a control file of pid's cgroup, in whichever
// hierarchy has it.
func cgroupValue(t *testing.T, pid uint32, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || strings.HasPrefix(f[1], "name=") {
			continue
		}
		if v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f[1], f[2], file)); err == nil {
			return strings.TrimSpace(string(v))
		}
	}
	t.Fatalf("no %s in the cgroups of %d", file, pid)
	return ""
}

// The shim's Update reaches the runtime's update: the running container's
// cgroup files change, what the update leaves out stays, and a value the
// kernel refuses is an error that changes nothing.
func TestShimUpdate(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	st, err := e.c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := st.Pid
	if err := e.c.Update(ctx, []byte(`{"memory":{"limit":33554432,"swap":67108864},"pids":{"limit":20}}`)); err != nil {
		t.Fatalf("update: %v", err)
	}
	want := map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "67108864", "pids.max": "20"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		want = map[string]string{"memory.max": "33554432", "memory.swap.max": "33554432", "pids.max": "20"}
	}
	check := func(when string) {
		t.Helper()
		for f, v := range want {
			if got := cgroupValue(t, pid, f); got != v {
				t.Errorf("%s: %s = %s, want %s", when, f, got, v)
			}
		}
	}
	check("after update")
	// Growing memory and swap together: the order of the writes matters.
	if err := e.c.Update(ctx, []byte(`{"memory":{"limit":268435456,"swap":536870912}}`)); err != nil {
		t.Fatalf("update growing memory: %v", err)
	}
	for f, v := range map[string]string{"memory.limit_in_bytes": "268435456", "memory.memsw.limit_in_bytes": "536870912", "memory.max": "268435456"} {
		if _, ok := want[f]; ok {
			want[f] = v
		}
	}
	if _, ok := want["memory.swap.max"]; ok {
		want["memory.swap.max"] = "268435456"
	}
	check("after growing memory")
	// Only the pids limit: memory stays as it is.
	if err := e.c.Update(ctx, []byte(`{"pids":{"limit":-1}}`)); err != nil {
		t.Fatalf("update pids: %v", err)
	}
	want["pids.max"] = "max"
	check("after lifting the pids limit")
	// A CPU that does not exist: refused by the kernel, nothing changes.
	if err := e.c.Update(ctx, []byte(`{"cpu":{"cpus":"4095"}}`)); err == nil {
		t.Error("cpuset 4095 accepted")
	}
	check("after a refused update")
	if err := e.c.Update(ctx, []byte(`not json`)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("update with bad JSON: %v", err)
	}
	if _, err := e.c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Update(ctx, []byte(`{"pids":{"limit":5}}`)); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("update after delete: %v", err)
	}
	shimShutdown(t, ctx, e)
}
