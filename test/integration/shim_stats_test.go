package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

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
	// What top shows, read by the shim: the exec's process is the
	// runtime's until it has exec'd sleep, so it is read until then.
	var nap *shimv1.ProcessInfo
	var procs []*shimv1.ProcessInfo
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if procs, err = e.c.Pids(ctx); err != nil {
			t.Fatal(err)
		}
		nap = nil
		for _, p := range procs {
			if p.Pid == ex.Pid && p.ExecId == "nap" {
				nap = p
			}
		}
		if nap != nil && strings.Join(nap.GetArgs(), " ") == "sleep 50" {
			break
		}
	}
	if !slices.ContainsFunc(procs, func(p *shimv1.ProcessInfo) bool { return p.Pid == st.Pid }) || nap == nil {
		t.Fatalf("pids %v: want init %d and exec nap %d", procs, st.Pid, ex.Pid)
	}
	if strings.Join(nap.GetArgs(), " ") != "sleep 50" || nap.GetComm() != "sleep" ||
		time.Since(time.Unix(0, nap.GetStartedAt())) > time.Minute || time.Since(time.Unix(0, nap.GetStartedAt())) < 0 {
		t.Errorf("exec's process info %+v", nap)
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
