package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
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
	return newSpareTestRuntime(t, shimRuntime(t), prefix, word)
}

// newSpareTestRuntime is newSpareTest with the runtime binary rt.
func newSpareTestRuntime(t *testing.T, rt, prefix, word string) *spareTest {
	t.Helper()
	st := &spareTest{rt: rt}
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
	// Start returned without waiting for the shim to listen: the create
	// goes out on the connection made with the spare, answered once the
	// shim is set up.
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE}); err != nil {
		t.Fatalf("create: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(stateDir, record.ShimPidFile))
	if err != nil || string(b) != strconv.Itoa(sp.Pid()) {
		t.Fatalf("shim.pid %q (%v), spare %d", b, err, sp.Pid())
	}
	// The socket listens (for whoever connects later), but nobody
	// connected through it.
	if l, conns := unixSocketUse(t, sp.Pid(), filepath.Join(dir, "s.sock")); l != 1 || conns != 0 {
		t.Fatalf("socket: %d listening, %d connections accepted; want 1 and 0", l, conns)
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

// unixSocketUse counts, in /proc/PID/net/unix (the network namespace of
// pid, the socket's owner: not necessarily the test's main thread's), the
// listening sockets bound to path and the connections accepted on them
// (which carry its path too). The file is read a few times, the largest
// counts kept: a read may miss entries while other sockets come and go.
func unixSocketUse(t *testing.T, pid int, path string) (listening, accepted int) {
	t.Helper()
	for range 5 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/unix", pid))
		if err != nil {
			t.Fatal(err)
		}
		l, a := 0, 0
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// Num RefCount Protocol Flags Type St Inode Path
			f := strings.Fields(line)
			if len(f) < 8 || f[7] != path {
				continue
			}
			switch f[5] {
			case "01":
				l++
			case "03":
				a++
			}
		}
		listening, accepted = max(listening, l), max(accepted, a)
	}
	return listening, accepted
}

// A spare whose set-up fails once given its container (here its socket is
// another live server's) answers nothing: the client's first call, the
// create, fails with the shim's own error, and the spare is gone.
func TestShimSpareSetUpFails(t *testing.T) {
	st := newSpareTest(t, "shimsetup-", "unused")
	sock := filepath.Join(st.dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sp, err := shimclient.StartSpare(shimBinary(t, st.dir), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	ctx := shimCtx(t)
	c, err := sp.Start(ctx, shimclient.StartOpts{
		ID: st.id, Bundle: st.bundle, Runtime: st.rt, RuntimeRoot: st.root,
		Socket: sock, StateDir: st.stateDir, ShimBinary: sp.Binary(),
	})
	if err != nil {
		t.Fatalf("start spare: %v", err)
	}
	defer c.Close()
	_, err = c.Create(ctx, &shimv1.CreateRequest{LogPath: st.logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("create on a spare that could not listen: %v, want the shim's \"in use\"", err)
	}
	select {
	case <-sp.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("spare alive after its set-up failed")
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
// container's init it started ahead (berth's runtime).
func TestShimSpareTerminated(t *testing.T) {
	st := newSpareTest(t, "shimterm-", "unused")
	sp := st.standbySpare(t)
	var early []int
	if filepath.Base(st.rt) == "runtime" {
		// The init started ahead is the spare's child, which must go with it.
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

// childrenRunning lists the processes whose parent is ppid and whose first
// argument is arg1 ("": any).
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
		if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); arg1 == "" || len(args) >= 2 && args[1] == arg1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A spare told berth's runtime readies the create in its own process: the
// container's init is started ahead, as the spare's child, and becomes the
// container's init; the create, start and delete run in the shim (no
// runtime process, the runtime's log stays empty), on the runtime's own
// state, which its command line reads. Nothing is left once the container
// is gone. A runtime that is not berth's (runc) is run as a command line.
func TestShimSpareRuntimeInProcess(t *testing.T) {
	st := newSpareTest(t, "shiminproc-", "from-spare")
	rt, logPath := st.rt, st.logPath
	ours := filepath.Base(rt) == "runtime"

	sp := st.standbySpare(t)
	zygote := 0
	if ours {
		zygote = awaitChild(t, sp.Pid(), "zygote")
	}
	ctx := shimCtx(t)
	c := st.giveStandby(t, ctx, sp)
	created, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	runtimeLog := filepath.Join(st.stateDir, record.RuntimeLogFile)
	if ours {
		if int(created.Pid) != zygote {
			t.Errorf("init is %d, not the init started ahead %d", created.Pid, zygote)
		}
		if kids := childrenOf(t, sp.Pid()); len(kids) != 1 || kids[0] != zygote {
			t.Errorf("shim children after the create %v, want only init %d", kids, zygote)
		}
		// The runtime's command line sees the container the shim made.
		out, err := exec.Command(rt, "--root", st.root, "state", st.id).CombinedOutput()
		var state specs.State
		if err != nil || json.Unmarshal(out, &state) != nil || state.Status != "created" || state.Pid != zygote {
			t.Errorf("runtime state after the create: %v %s", err, out)
		}
	}
	startAndWait(t, ctx, c, logPath, "from-spare")
	deleteAndShutdown(t, ctx, c)
	if ours {
		if b, err := os.ReadFile(runtimeLog); err == nil && len(b) > 0 {
			t.Errorf("the runtime's command line ran: its log has %q", b)
		}
		if _, err := os.Stat(filepath.Join(st.root, st.id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("runtime state after the delete: %v", err)
		}
	}
}

// A spec whose hooks the runtime runs (here prestart) needs a runtime
// process of its own: the shim's create goes to the runtime's command line
// (the hook's parent is `runtime create`), and so do the start and delete.
func TestShimInProcessHooksUseCommandLine(t *testing.T) {
	st := newSpareTestRuntime(t, rtBin(t), "shimhook-", "hooked")
	out := filepath.Join(st.dir, "hook.out")
	editBundleSpec(t, st.bundle, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{
			Path: "/bin/sh", Args: []string{"sh", "-c", `tr '\0' ' ' </proc/$PPID/cmdline >` + out},
		}}}
	})
	sp := st.standbySpare(t)
	zygote := awaitChild(t, sp.Pid(), "zygote")
	ctx := shimCtx(t)
	c := st.giveStandby(t, ctx, sp)
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: st.logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_JSON_FILE}); err != nil {
		t.Fatalf("create: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("prestart hook did not run: %v", err)
	}
	if !strings.Contains(string(b), " create ") {
		t.Errorf("prestart hook's parent %q, want the runtime's create", b)
	}
	waitGone(t, zygote) // unused: dropped
	startAndWait(t, ctx, c, st.logPath, "hooked")
	deleteAndShutdown(t, ctx, c)
	if _, err := os.Stat(filepath.Join(st.root, st.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime state after the delete: %v", err)
	}
}

// childrenOf lists the pids whose parent is pid (from every process's
// stat: a thread's children file lists only what that thread started).
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	return childrenRunning(t, pid, "")
}

// A create that fails in init, run in the shim's process: the error names
// the cause, and init, the shim's child from its start, is reaped by the
// shim: nothing is left (no child, no runtime state), and the shim, which
// the failure must not take down, can still be shut down.
func TestShimSpareRuntimeCreateFails(t *testing.T) {
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
