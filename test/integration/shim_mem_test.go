package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestShimIdleMemory reports (does not assert) the memory of idle shims
// holding a running container each: RSS and PSS from smaps_rollup. With
// BERTH_TEST_SHIM set, the shims share one binary's text, so PSS shows the
// per-shim cost of many containers. Run with BERTH_TEST_SHIM_MEM=1 -v.
func TestShimIdleMemory(t *testing.T) {
	if os.Getenv("BERTH_TEST_SHIM_MEM") == "" {
		t.Skip("a measurement, not a test: set BERTH_TEST_SHIM_MEM=1")
	}
	ctx := shimCtx(t)
	var envs []*shimEnv
	for i := 0; i < 3; i++ {
		e := newShimEnv(t, "sleep", "100")
		e.create(t, ctx)
		if _, err := e.c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.State(ctx); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
	}
	time.Sleep(2 * time.Second)
	for _, e := range envs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", e.pid))
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"Rss:", "Pss:", "Pss_Anon:", "Pss_File:"} {
				if strings.HasPrefix(l, k) {
					fields = append(fields, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		t.Logf("shim %d: %s", e.pid, strings.Join(fields, ", "))
	}
	for _, e := range envs {
		if _, err := e.c.Delete(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.State(ctx); err != nil {
			t.Fatal(err)
		}
		shimShutdown(t, ctx, e)
	}
}
