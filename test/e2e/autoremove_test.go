package e2e

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// supervisorLeft lists what the supervisor still holds for the engine:
// containers and snapshots other than the image's committed layers.
func (s *stack) supervisorLeft() []string {
	s.t.Helper()
	cl := s.supervisorClient()
	defer cl.Close()
	ctx := context.Background()
	var left []string
	cs, err := cl.ContainerService().List(ctx, &supervisorv1.ListContainersRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range cs.GetContainers() {
		left = append(left, "container "+c.GetId())
	}
	return left
}

// shimsLeft lists shim processes of the stack (the daemons excluded).
func (s *stack) shimsLeft() []int {
	var out []int
	for _, pid := range s.processesUnder() {
		if pid != s.engine.Process.Pid && pid != s.supervisor.Process.Pid {
			out = append(out, pid)
		}
	}
	return out
}

// waitAllRemoved fails unless the engine lists no container and nothing of
// the removed ones is left (waitNothingLeft).
func (s *stack) waitAllRemoved() {
	s.t.Helper()
	if ps := strings.TrimSpace(s.mustRun("ps", "-aq")); ps != "" {
		s.t.Fatalf("removed containers still listed: %q", ps)
	}
	s.waitNothingLeft()
}

// waitNothingLeft waits (bounded) for the background removals to end,
// then fails on anything a removed container left: a supervisor
// container, a mount below the stack's root, a shim.
func (s *stack) waitNothingLeft() {
	s.t.Helper()
	var sup []string
	var mounts []string
	var shims []int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		sup, mounts, shims = s.supervisorLeft(), s.mountsUnder(), s.shimsLeft()
		if len(sup) == 0 && len(mounts) == 0 && len(shims) == 0 {
			return
		}
	}
	s.t.Fatalf("left after run --rm: supervisor %v, mounts %v, shims %v", sup, mounts, shims)
}

// TestRunRmRemovesInBackground: many run --rm, four at a time; each
// reports its exit, the engine lists none of them at once, and the
// supervisor's part of the removals (task, shim, snapshot) ends with
// nothing left.
func TestRunRmRemovesInBackground(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	const n, par = 24, 4
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += par {
				cmd := s.ctl("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo run; exit 3")
				out, err := cmd.Output()
				if code := cmd.ProcessState.ExitCode(); code != 3 || string(out) != "run\n" {
					errs <- "run " + string(out) + ": " + errString(err)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s.waitAllRemoved()
}

// TestRunRmThenRmi: rmi right after run --rm, while the supervisor's part
// of the removal is still to come (containers.AutoRemoveDelay), frees the
// image's layers: its collection waits for that removal.
func TestRunRmThenRmi(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	for i := range 3 {
		s.mustRun("run", "--rm", "--network", "none", "busybox", "true")
		s.mustRun("rmi", "busybox")
		if left := s.snapshotsLeft(); len(left) != 0 {
			t.Fatalf("round %d: snapshots left after run --rm and rmi: %v", i, left)
		}
		s.loadBusybox()
	}
}

// snapshotsLeft lists the supervisor's snapshots in the engine's namespace.
func (s *stack) snapshotsLeft() []string {
	s.t.Helper()
	cl := s.supervisorClient()
	defer cl.Close()
	resp, err := cl.SnapshotService().List(context.Background(), &supervisorv1.ListSnapshotsRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	var left []string
	for _, i := range resp.GetInfo() {
		left = append(left, i.GetName())
	}
	return left
}

func errString(err error) string {
	if err == nil {
		return "exit status wrong"
	}
	return err.Error()
}

// TestRunRmCrashAfterForget: engined killed after it forgot a --rm
// container and before the supervisor removed it: the next start's
// reconcile removes the rest.
func TestRunRmCrashAfterForget(t *testing.T) {
	s := crashInRunRm(t, "autoremove-forgotten")
	if left := s.supervisorLeft(); len(left) != 1 {
		t.Fatalf("supervisor holds %v at the crash, want the one container", left)
	}
	restartAfterRunRmCrash(s)
}

// TestRunRmCrashAfterExit: engined killed once a --rm container's exit was
// reported, before it forgot the container: the next start finds it
// exited and removes it (its record still says running: an exit that is
// removed at once is not written).
func TestRunRmCrashAfterExit(t *testing.T) {
	restartAfterRunRmCrash(crashInRunRm(t, "engine-exit-reported"))
}

// crashInRunRm runs a --rm container under an engined armed to die at
// failpoint fp, and waits for it to be gone.
func crashInRunRm(t *testing.T, fp string) *stack {
	s := newStack(t)
	s.loadBusybox()
	s.stop(s.engine)
	t.Setenv("BERTH_FAILPOINT", fp)
	s.startEngine()
	_, _, _ = s.run("run", "--rm", "--network", "none", "busybox", "true") // engined dies meanwhile
	gone := func() bool { return syscall.Kill(s.engine.Process.Pid, 0) != nil }
	for i := 0; i < 200 && !gone(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !gone() {
		t.Fatalf("engined did not reach the failpoint %s", fp)
	}
	return s
}

// restartAfterRunRmCrash starts engined again, unarmed: the container is
// not listed and nothing of it is left.
func restartAfterRunRmCrash(s *stack) {
	s.t.Setenv("BERTH_FAILPOINT", "")
	s.startEngine()
	if ps := strings.TrimSpace(s.mustRun("ps", "-aq")); ps != "" {
		s.t.Fatalf("containers listed after the restart: %q", ps)
	}
	s.waitNothingLeft()
}
