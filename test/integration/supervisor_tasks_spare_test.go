package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/shim/record"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// svSpares lists the spare shims this process (the in-process supervisor)
// started and has not reaped.
func svSpares(t *testing.T, shim string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// `shim spare`, or `shim spare --standby RUNTIME`.
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.HasPrefix(b, []byte(shim+"\x00"+record.SpareArg+"\x00")) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !bytes.Contains(st, []byte(") Z ")) &&
			svParent(t, pid) == os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// svSparesSettle waits until n spare shims run (a create starts a second
// one in the background, for the stock) and returns them.
func svSparesSettle(t *testing.T, shim string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := svSpares(t, shim)
		if len(s) == n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("spare shims: %v, want %d", s, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Creating a container starts its task's shim ahead (a spare, while the
// snapshot is prepared), and one more for the stock; creating the task hands
// the container to one of them instead of starting a shim then; a later
// create that finds one waiting refills the stock after a delay. Spares
// nobody took go with the supervisor.
func TestSupervisorTaskUsesSpareShim(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "spare1", "true")
	spares := svSparesSettle(t, e.cfg.ShimBinary, 2)
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "spare1"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.cfg.State, "shim", "test", "spare1", record.ShimPidFile))
	if err != nil || (string(b) != strconv.Itoa(spares[0]) && string(b) != strconv.Itoa(spares[1])) {
		t.Fatalf("task's shim pid %q (%v), the spares were %v", b, err, spares)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "spare1"}); err != nil {
		t.Fatal(err)
	}
	if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "spare1"}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %+v", err, w)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "spare1"}); err != nil {
		t.Fatal(err)
	}
	// A create whose task finds a spare waiting starts the one that
	// replaces it only later (refillDelay, 100 ms: its start-up would take
	// CPU from the task's start); judged only when the count comes well
	// within that time. A create never started leaves its spare beside the
	// refill, which the supervisor's close ends. (A spare given a task
	// keeps its command line: spare1's shim is counted until it has exited.)
	svSparesSettle(t, e.cfg.ShimBinary, 1)
	req := e.svContainerRequest(t, ctx, "spare2", "true")
	created := time.Now()
	if _, err := e.ctrs.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := len(svSpares(t, e.cfg.ShimBinary)); time.Since(created) < 50*time.Millisecond && n != 1 {
		t.Errorf("%d spares right after a create that found one waiting, want 1 until the refill", n)
	}
	svSparesSettle(t, e.cfg.ShimBinary, 2)
	e.stop(t)
	deadline := time.Now().Add(10 * time.Second)
	for len(svSpares(t, e.cfg.ShimBinary)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spares left after the supervisor closed: %v", svSpares(t, e.cfg.ShimBinary))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A task's shim is handed its container while the bundle is written and
// the rootfs mounted: a rootfs that does not mount fails the create, and
// the shim that was handed the task goes with it, leaving nothing.
func TestSupervisorTaskCreateFailsAfterShimStart(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "nomount", "true")
	spares := svSparesSettle(t, e.cfg.ShimBinary, 2)
	ms, err := e.snaps.Mounts(ctx, &pb.MountsRequest{Key: "nomount-rootfs"})
	if err != nil {
		t.Fatal(err)
	}
	// Break the mount: an overlay's work directory, or a bind's source.
	broken := ""
	for _, m := range ms.GetMounts() {
		for _, o := range m.GetOptions() {
			if strings.HasPrefix(o, "workdir=") {
				broken = strings.TrimPrefix(o, "workdir=")
			}
		}
		if broken == "" && m.GetType() == "bind" {
			broken = m.GetSource()
		}
	}
	if broken == "" {
		t.Fatalf("no work directory or bind source in the rootfs mounts %v", ms.GetMounts())
	}
	if err := os.RemoveAll(broken); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "nomount"}); err == nil {
		t.Fatal("a task whose rootfs cannot mount was created")
	}
	// The spare handed the task exits; the other waits on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, p := range spares {
			if st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "stat")); err == nil && !bytes.Contains(st, []byte(") Z ")) {
				alive++
			}
		}
		if alive == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the spares %v alive after the failed create, want 1", alive, spares)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing holds or left the task's files: socket, shim state, bundle.
	task := filepath.Join("test", "nomount")
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, e.cfg.State) && strings.Contains(l, task) {
			t.Errorf("%s still open: %s", l, fd)
		}
	}
	for _, d := range []string{"tasks", "shim", "s"} {
		if ents, _ := os.ReadDir(filepath.Join(e.cfg.State, d, "test")); len(ents) != 0 {
			t.Errorf("%s left: %v", d, ents)
		}
	}
	if m := svMountsUnder(e.dir); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}
