package integration

import (
	"slices"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// Stats and Pids come from the shim, the only reader of its container's
// cgroup; execs are named. Once the container exited they are refused, and
// a dead shim answers Unavailable.
func TestShimStatsAndPids(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	if _, err := e.c.Stats(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("stats before create: %v", err)
	}
	e.create(t, ctx)
	st, err := e.c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.Exec(ctx, &shimv1.ExecRequest{ExecId: "nap", Spec: execSpec(t, false, "sleep", "50")}); err != nil {
		t.Fatal(err)
	}
	ex, err := e.c.StartExec(ctx, "nap")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := e.c.Pids(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pids []uint32
	named := false
	for _, p := range procs {
		pids = append(pids, p.Pid)
		named = named || (p.Pid == ex.Pid && p.ExecId == "nap")
	}
	if !slices.Contains(pids, st.Pid) || !named {
		t.Fatalf("pids %v: want init %d and exec nap %d", procs, st.Pid, ex.Pid)
	}
	s, err := e.c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryUsage == 0 || s.PidsCurrent < 2 || s.ReadAt == 0 || s.OnlineCpus == 0 {
		t.Fatalf("stats %+v", s)
	}
	if err := e.c.Kill(ctx, 9, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Stats(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("stats after exit: %v", err)
	}
	if _, err := e.c.Pids(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("pids after exit: %v", err)
	}
	e.killShim(t)
	if _, err := e.c.Stats(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("stats of a dead shim: %v", err)
	}
}
