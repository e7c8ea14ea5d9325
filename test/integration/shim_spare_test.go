package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	shimclient "github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// spareTest is one container of a spare shim test: a short temp dir (the
// shim's socket path is bounded), the runtime's root, the shim's state dir,
// the container's log and a bundle echoing a word; the runtime's container
// and the shim (once shimPid is set) go at the end of the test.
type spareTest struct {
	rt, dir, id, root, stateDir, logPath, bundle string
	shimPid                                      int
}

func newSpareTest(t *testing.T, prefix, word string) *spareTest {
	t.Helper()
	st := &spareTest{rt: shimRuntime(t)}
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	st.dir, st.id = dir, prefix+filepath.Base(dir)
	st.root, st.stateDir = filepath.Join(dir, "rt"), filepath.Join(dir, "state")
	st.logPath = filepath.Join(dir, "logs", "c.log")
	st.bundle = shimBundle(t, st.rt, dir, st.id, "sh", "-c", "echo "+word)
	shimCleanup(t, st.rt, st.root, st.id, &st.shimPid)
	return st
}

// standbySpare starts a spare shim that starts st's runtime in standby
// ahead (berth's does; runc refuses); it is killed at the end.
func (st *spareTest) standbySpare(t *testing.T) *shimclient.Spare {
	t.Helper()
	sp, err := shimclient.StartSpare(shimBinary(t, st.dir), st.rt)
	if err != nil {
		t.Fatal(err)
	}
	st.shimPid = sp.Pid()
	t.Cleanup(sp.Close)
	return sp
}

// giveStandby hands st's container to the spare sp, berth's runtime (or
// runc, which refuses) in standby; the client is closed at the end.
func (st *spareTest) giveStandby(t *testing.T, ctx context.Context, sp *shimclient.Spare) *shimclient.Client {
	t.Helper()
	c, err := sp.Start(ctx, shimclient.StartOpts{
		ID: st.id, Bundle: st.bundle, Runtime: st.rt, RuntimeRoot: st.root, RuntimeStandby: true,
		Socket: filepath.Join(st.dir, "s.sock"), StateDir: st.stateDir, ShimBinary: sp.Binary(),
	})
	if err != nil {
		t.Fatalf("start spare: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startAndWait starts the container of c's shim, waits for its exit 0 and
// checks that its log at logPath has word.
func startAndWait(t *testing.T, ctx context.Context, c *shimclient.Client, logPath, word string) {
	t.Helper()
	if _, err := c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	w, err := c.Wait(ctx)
	if err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", w, err)
	}
	if out, _ := os.ReadFile(logPath); !strings.Contains(string(out), word) {
		t.Fatalf("container log %q", out)
	}
}

// deleteAndShutdown deletes the container of c's shim and has the shim exit.
func deleteAndShutdown(t *testing.T, ctx context.Context, c *shimclient.Client) {
	t.Helper()
	if _, err := c.Delete(ctx, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	shutdownAndWait(t, ctx, c)
}

// shutdownAndWait has c's shim exit and waits (bounded) for it.
func shutdownAndWait(t *testing.T, ctx context.Context, c *shimclient.Client) {
	t.Helper()
	c.Shutdown(ctx)
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("shim did not exit after shutdown")
	}
}

// A spare shim, started before its container is known, serves the container
// it is then given exactly as a shim started for it: same process, its log
// in the state dir, the container's output and exit.
func TestShimSpareServesContainer(t *testing.T) {
	st := newSpareTest(t, "shimspare-", "from-spare")
	rt, dir, id, root, stateDir, logPath, bundle := st.rt, st.dir, st.id, st.root, st.stateDir, st.logPath, st.bundle

	sp, err := shimclient.StartSpare(shimBinary(t, dir), "")
	if err != nil {
		t.Fatal(err)
	}
	st.shimPid = sp.Pid()
	t.Cleanup(sp.Close)
	// It waits, having made nothing.
	time.Sleep(200 * time.Millisecond)
	if !sp.Alive() {
		t.Fatal("spare exited while waiting for a container")
	}
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir before the spare was given a container: %v", err)
	}
	ctx := shimCtx(t)
	c, err := sp.Start(ctx, shimclient.StartOpts{
		ID: id, Bundle: bundle, Runtime: rt, RuntimeRoot: root,
		Socket: filepath.Join(dir, "s.sock"), StateDir: stateDir,
		ShimBinary: sp.Binary(), Debug: true,
	})
	if err != nil {
		t.Fatalf("start spare: %v", err)
	}
	defer c.Close()
	if c.Pid() != sp.Pid() || c.Exited() == nil {
		t.Fatalf("client pid %d, spare %d", c.Pid(), sp.Pid())
	}
	b, err := os.ReadFile(filepath.Join(stateDir, record.ShimPidFile))
	if err != nil || string(b) != strconv.Itoa(sp.Pid()) {
		t.Fatalf("shim.pid %q (%v), spare %d", b, err, sp.Pid())
	}
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE}); err != nil {
		t.Fatalf("create: %v", err)
	}
	startAndWait(t, ctx, c, logPath, "from-spare")
	// Its stderr is the state dir's shim.log, as for any shim.
	if lb, _ := os.ReadFile(filepath.Join(stateDir, record.ShimLogFile)); !strings.Contains(string(lb), "listening on") {
		t.Fatalf("shim.log %q", lb)
	}
	deleteAndShutdown(t, ctx, c)
	if _, err := sp.Start(ctx, shimclient.StartOpts{}); !errors.Is(err, shimclient.ErrSpareGone) {
		t.Fatalf("a used spare started again: %v", err)
	}
}

// A spare nobody gives a container exits when its config socket closes
// (Close, or its launcher's death, which closes it too), leaving nothing.
func TestShimSpareDropped(t *testing.T) {
	dir := t.TempDir()
	sp, err := shimclient.StartSpare(shimBinary(t, dir), "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	sp.Close()
	select {
	case <-sp.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("dropped spare did not exit")
	}
	if sp.Alive() {
		t.Fatal("closed spare alive")
	}
	_, err = sp.Start(context.Background(), shimclient.StartOpts{ID: "x"})
	if !errors.Is(err, shimclient.ErrSpareGone) {
		t.Fatalf("start of a closed spare: %v", err)
	}
}

// A spare sent SIGTERM while it waits for its container exits (the shim
// catches SIGTERM from its start, before a spare's wait), and so does the
// standby runtime it started.
func TestShimSpareTerminated(t *testing.T) {
	st := newSpareTest(t, "shimterm-", "unused")
	sp := st.standbySpare(t)
	var early []int
	if filepath.Base(st.rt) == "runtime" {
		early = awaitStandby(t, sp.Pid())
		// The standby started the container's init ahead: a child of
		// the spare's too (CLONE_PARENT), which must go with it.
		early = append(early, awaitChild(t, sp.Pid(), "zygote"))
	}
	if err := syscall.Kill(sp.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sp.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("spare did not exit at SIGTERM")
	}
	for _, pid := range early {
		waitGone(t, pid)
	}
}

// awaitStandby waits for the one standby runtime the spare pid starts and
// returns it.
func awaitStandby(t *testing.T, pid int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	kids := standbyChildren(t, pid)
	for ; len(kids) != 1 && time.Now().Before(deadline); kids = standbyChildren(t, pid) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(kids) != 1 {
		t.Fatalf("spare %d has standby runtimes %v, want one", pid, kids)
	}
	return kids
}

// awaitChild waits for the one child of ppid whose first argument is arg1.
func awaitChild(t *testing.T, ppid int, arg1 string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	kids := childrenRunning(t, ppid, arg1)
	for ; len(kids) != 1 && time.Now().Before(deadline); kids = childrenRunning(t, ppid, arg1) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(kids) != 1 {
		t.Fatalf("%d has %q children %v, want one", ppid, arg1, kids)
	}
	return kids[0]
}

// standbyChildren lists the `RUNTIME standby` processes whose parent is ppid.
func standbyChildren(t *testing.T, ppid int) []int {
	t.Helper()
	return childrenRunning(t, ppid, "standby")
}

// childrenRunning lists the processes whose parent is ppid and whose first
// argument is arg1.
func childrenRunning(t *testing.T, ppid int, arg1 string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so from the last ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(ppid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); len(args) >= 2 && args[1] == arg1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A spare told berth's runtime starts a standby of it while it waits; the
// container's create runs in that standby, the create starts the next one
// for the start, and nothing of them is left once the container is gone.
// A runtime that does not know `standby` (runc) only costs fresh starts.
func TestShimSpareRuntimeStandby(t *testing.T) {
	st := newSpareTest(t, "shimstandby-", "from-standby")
	rt, logPath := st.rt, st.logPath
	ours := filepath.Base(rt) == "runtime"

	sp := st.standbySpare(t)
	var early []int
	if ours {
		early = awaitStandby(t, sp.Pid())
	}
	ctx := shimCtx(t)
	c := st.giveStandby(t, ctx, sp)
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if ours {
		// The early standby ran the create and waits for the start (a
		// session), init is the shim's child, not the runtime's.
		if after := standbyChildren(t, sp.Pid()); len(after) != 1 || after[0] != early[0] {
			t.Fatalf("standby runtimes after the create %v: want the spare's, %v", after, early)
		}
		if kids := childrenOf(t, early[0]); len(kids) != 0 {
			t.Errorf("the standby runtime has children %v after the create", kids)
		}
	}
	startAndWait(t, ctx, c, logPath, "from-standby")
	if ours {
		// The container's exit was reported while the session waits for
		// the delete.
		if left := standbyChildren(t, sp.Pid()); len(left) != 1 || left[0] != early[0] {
			t.Errorf("standby runtimes %v after the start, want the session %v", left, early)
		}
	}
	deleteAndShutdown(t, ctx, c)
	if ours {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(early[0]))); err == nil {
			t.Errorf("the session %d is still there after the delete", early[0])
		}
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		kids = append(kids, n)
	}
	return kids
}

// A create that fails in init, in a standby session: the error names the
// cause, the session ends, and init, the shim's child from its start, is
// reaped by the shim: nothing is left (no standby, no child, no runtime
// state), and the shim can still be deleted and shut down.
func TestShimSpareRuntimeStandbyCreateFails(t *testing.T) {
	st := newSpareTest(t, "shimstandbyfail-", "never")
	rt, dir, id, root, logPath, bundle := st.rt, st.dir, st.id, st.root, st.logPath, st.bundle
	editBundleSpec(t, bundle, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: filepath.Join(dir, "no-such-source"), Options: []string{"rbind"}})
	})
	ours := filepath.Base(rt) == "runtime"

	sp := st.standbySpare(t)
	ctx := shimCtx(t)
	c := st.giveStandby(t, ctx, sp)
	_, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE})
	if err == nil || !strings.Contains(err.Error(), "no-such-source") {
		t.Fatalf("create with a missing mount source: %v", err)
	}
	// The shim reaps init and the session; nothing is left under it.
	deadline := time.Now().Add(10 * time.Second)
	kids := childrenOf(t, sp.Pid())
	for ; len(kids) != 0 && time.Now().Before(deadline); kids = childrenOf(t, sp.Pid()) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(kids) != 0 {
		for _, k := range kids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k))
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k))
			t.Errorf("shim child %d left after the failed create: %q %q", k, cmd, stat)
		}
	}
	if ours {
		if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("runtime state of the failed create: %v", err)
		}
	}
	shutdownAndWait(t, ctx, c)
}
