package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	shimclient "github.com/berthd/berth/pkg/shim/client"
)

// cleanupOpts describes e's shim as it was started, for `shim delete`.
func (e *shimEnv) cleanupOpts(t *testing.T) shimclient.StartOpts {
	return shimclient.StartOpts{
		ID: e.id, Bundle: filepath.Join(e.dir, "bundle"), Runtime: e.runtime, RuntimeRoot: e.root,
		Socket: e.socket, StateDir: e.stateDir, ShimBinary: shimBinary(t, e.dir),
	}
}

// killShim SIGKILLs e's shim and waits until it is reaped.
func (e *shimEnv) killShim(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(e.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("killed shim not reaped")
	}
}

// `shim delete` after the shim was killed while its container ran: the
// container is killed and its runtime state removed; nobody saw it exit,
// so the status is 255.
func TestShimDeleteAfterShimKilled(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	st, err := e.c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A live shim is never cleaned up behind its back.
	if _, err := shimclient.Cleanup(ctx, e.cleanupOpts(t)); err == nil || !strings.Contains(err.Error(), "still answers") {
		t.Fatalf("shim delete of a live shim: %v", err)
	}
	e.killShim(t)
	if syscall.Kill(int(st.Pid), 0) != nil {
		t.Fatal("the container died with its shim")
	}
	rec, err := shimclient.Cleanup(ctx, e.cleanupOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if rec.ExitStatus != 255 || rec.ExitedAt.IsZero() {
		t.Fatalf("exit record %+v, want 255", rec)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(int(st.Pid), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("container init %d survived shim delete", st.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(e.root, e.id)); !os.IsNotExist(err) {
		t.Fatalf("runtime state left: %v", err)
	}
	// Again: nothing left to delete, the same answer.
	if rec, err := shimclient.Cleanup(ctx, e.cleanupOpts(t)); err != nil || rec.ExitStatus != 255 {
		t.Fatalf("second shim delete: %+v %v", rec, err)
	}
}

// `shim delete` after the container exited and then its shim was killed:
// the status the dead shim recorded is reported.
func TestShimDeleteKeepsRecordedExit(t *testing.T) {
	e := newShimEnv(t, "sh", "-c", "exit 7")
	ctx := shimCtx(t)
	e.create(t, ctx)
	st, err := e.c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := e.c.Wait(ctx); err != nil || w.ExitStatus != 7 {
		t.Fatalf("wait: %v %v", w, err)
	}
	e.killShim(t)
	rec, err := shimclient.Cleanup(ctx, e.cleanupOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if rec.ExitStatus != 7 || rec.Pid != st.Pid {
		t.Fatalf("exit record %+v, want 7 of pid %d", rec, st.Pid)
	}
	if _, err := os.Stat(filepath.Join(e.root, e.id)); !os.IsNotExist(err) {
		t.Fatalf("runtime state left: %v", err)
	}
}

// A shim binary that cannot run: Cleanup fails with its reason.
func TestShimDeleteBadBinary(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	o := e.cleanupOpts(t)
	o.ShimBinary = filepath.Join(e.dir, "no-such-shim")
	if _, err := shimclient.Cleanup(ctx, o); err == nil || !strings.Contains(err.Error(), "no-such-shim") {
		t.Fatalf("err %v", err)
	}
}
