package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	shimclient "github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// shimEnv is one shim with its container, in its own temp dirs.
type shimEnv struct {
	id, dir, runtime, root, socket, stateDir, logPath string
	c                                                 *shimclient.Client
	pid                                               int
	exited                                            <-chan struct{} // the shim was reaped
}

// newShimEnv builds a bundle running args and starts a shim for it.
func newShimEnv(t *testing.T, args ...string) *shimEnv {
	t.Helper()
	return newShimEnvTerminal(t, false, args...)
}

func newShimEnvTerminal(t *testing.T, terminal bool, args ...string) *shimEnv {
	t.Helper()
	rt := shimRuntime(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &shimEnv{
		id:       "shimtest-" + filepath.Base(dir),
		dir:      dir,
		runtime:  rt,
		root:     filepath.Join(dir, "rt"),
		socket:   filepath.Join(dir, "s.sock"),
		stateDir: filepath.Join(dir, "state"),
		logPath:  filepath.Join(dir, "logs", "c.log"),
	}
	bundle := shimBundleTerminal(t, rt, dir, e.id, terminal, args...)
	shimCleanup(t, rt, e.root, e.id, &e.pid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := shimclient.Start(ctx, shimclient.StartOpts{
		ID:          e.id,
		Bundle:      bundle,
		Runtime:     rt,
		RuntimeRoot: e.root,
		Socket:      e.socket,
		StateDir:    e.stateDir,
		ShimBinary:  shimBinary(t, dir),
		Debug:       true,
	})
	if err != nil {
		t.Fatalf("start shim: %v", err)
	}
	e.c, e.pid, e.exited = c, c.Pid(), c.Exited()
	t.Cleanup(func() {
		c.Close()
		if t.Failed() || os.Getenv("BERTH_SHIM_LOG") != "" {
			b, _ := os.ReadFile(filepath.Join(e.stateDir, record.ShimLogFile))
			t.Logf("shim.log:\n%s", b)
		}
	})
	return e
}

func (e *shimEnv) create(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := e.c.Create(ctx, &shimv1.CreateRequest{LogPath: e.logPath}); err != nil {
		t.Fatalf("create: %v", err)
	}
}

func shimCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestShimOutputAndExit(t *testing.T) {
	e := newShimEnv(t, "sh", "-c", "echo out; echo err >&2; exit 3")
	ctx := shimCtx(t)
	e.create(t, ctx)
	st, err := e.c.State(ctx)
	if err != nil || st.Status != shimv1.Status_STATUS_CREATED || st.Pid == 0 {
		t.Fatalf("state after create: %v %v", st, err)
	}
	attach, err := e.c.Attach(ctx, true, true)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	var got [2]strings.Builder
	attached := make(chan error, 1)
	go func() {
		for {
			m, err := attach.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				attached <- err
				return
			}
			got[m.Stream].Write(m.Data)
		}
	}()
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	w, err := e.c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if w.ExitStatus != 3 || w.ExitedAt == 0 {
		t.Fatalf("wait: exit %d at %d, want 3", w.ExitStatus, w.ExitedAt)
	}
	select {
	case err := <-attached:
		if err != nil {
			t.Fatalf("attach recv: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach stream did not end after exit")
	}
	if got[0].String() != "out\n" || got[1].String() != "err\n" {
		t.Fatalf("attach: stdout %q stderr %q", got[0].String(), got[1].String())
	}

	// The json-file log has both lines, each with its stream.
	f, err := os.Open(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct{ Log, Stream, Time string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec.Time); err != nil {
			t.Fatalf("log time %q: %v", rec.Time, err)
		}
		seen[rec.Stream] += rec.Log
	}
	if seen["stdout"] != "out\n" || seen["stderr"] != "err\n" {
		t.Fatalf("log file: %v", seen)
	}
	if fi, err := os.Stat(e.logPath); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("log file mode: %v %v", fi.Mode(), err)
	}

	// exit.json persists the status.
	var rec record.Exit
	b, err := os.ReadFile(filepath.Join(e.stateDir, record.ExitFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.ExitStatus != 3 || rec.Pid != st.Pid {
		t.Fatalf("exit.json %s: %v", b, err)
	}
	// Kill after exit: the process is gone.
	if err := e.c.Kill(ctx, 15, false); !errdefs.IsNotFound(err) {
		t.Fatalf("kill after exit: %v, want not found", err)
	}
	d, err := e.c.Delete(ctx, false)
	if err != nil || d.ExitStatus != 3 {
		t.Fatalf("delete: %v %v", d, err)
	}
	if os.Getenv("BERTH_SHIM_LOG") != "" {
		b, _ := os.ReadFile(filepath.Join(e.stateDir, record.ShimLogFile))
		t.Logf("shim.log:\n%s", b)
	}
	shimShutdown(t, ctx, e)
}

func shimShutdown(t *testing.T, ctx context.Context, e *shimEnv) {
	t.Helper()
	if err := e.c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("shim did not exit after shutdown")
	}
	if _, err := os.Stat(e.socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, err := os.Stat(e.stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left behind: %v", err)
	}
}

func TestShimKillAndDelete(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	// Shutdown is refused while a container exists.
	if err := e.c.Shutdown(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("shutdown before delete: %v, want failed precondition", err)
	}
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := e.c.State(ctx)
	if err != nil || st.Status != shimv1.Status_STATUS_RUNNING || st.StartedAt == 0 {
		t.Fatalf("state: %v %v", st, err)
	}
	if _, err := e.c.Delete(ctx, false); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("delete while running: %v, want failed precondition", err)
	}
	if err := e.c.Kill(ctx, uint32(syscall.SIGKILL), false); err != nil {
		t.Fatalf("kill: %v", err)
	}
	w, err := e.c.Wait(ctx)
	if err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait: %v %v, want 137", w, err)
	}
	st, err = e.c.State(ctx)
	if err != nil || st.Status != shimv1.Status_STATUS_STOPPED || st.ExitStatus != 137 {
		t.Fatalf("state after kill: %v %v", st, err)
	}
	if _, err := e.c.Delete(ctx, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	shimShutdown(t, ctx, e)
}

func TestShimForceDelete(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	d, err := e.c.Delete(ctx, true)
	if err != nil || d.ExitStatus != 137 {
		t.Fatalf("force delete: %v %v", d, err)
	}
	shimShutdown(t, ctx, e)
}

// The shim does not depend on the process that started it: a new client
// finds it by its socket.
func TestShimSurvivesLauncher(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	e.c.Close()
	// Own session and process group, away from the launcher's.
	if sid, _ := unix.Getsid(e.pid); sid != e.pid {
		t.Fatalf("shim session %d, want its own (%d)", sid, e.pid)
	}
	c, err := shimclient.Connect(ctx, e.socket)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()
	st, err := c.State(ctx)
	if err != nil || st.Status != shimv1.Status_STATUS_RUNNING || st.Id != e.id {
		t.Fatalf("state: %v %v", st, err)
	}
	if _, err := c.Delete(ctx, true); err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.c = c
	shimShutdown(t, ctx, e)
}

func TestShimCreateError(t *testing.T) {
	e := newShimEnv(t, "/does-not-exist")
	ctx := shimCtx(t)
	_, err := e.c.Create(ctx, &shimv1.CreateRequest{LogPath: e.logPath})
	if err == nil {
		// Some runtimes fail at start rather than create.
		_, err = e.c.Start(ctx)
		if err == nil {
			t.Fatal("a missing executable neither failed create nor start")
		}
		e.c.Delete(ctx, true)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("error does not name the executable: %v", err)
	}
	shimShutdown(t, ctx, e)
}

// Many lines and a slow attacher: the container finishes, the log has all.
func TestShimBulkOutput(t *testing.T) {
	e := newShimEnv(t, "sh", "-c", "yes line | head -n 200000")
	ctx := shimCtx(t)
	e.create(t, ctx)
	var wg sync.WaitGroup
	attach, err := e.c.Attach(ctx, true, false)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { // never reads: must be dropped, not block the container
		defer wg.Done()
		time.Sleep(3 * time.Second)
		for {
			if _, err := attach.Recv(); err != nil {
				return
			}
		}
	}()
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := e.c.Wait(ctx)
	if err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", w, err)
	}
	wg.Wait()
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 200000 {
		t.Fatalf("log has %d lines, want 200000", n)
	}
	if _, err := e.c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	shimShutdown(t, ctx, e)
}

func TestShimSocketTooLong(t *testing.T) {
	_, err := shimclient.Start(context.Background(), shimclient.StartOpts{
		ID: "x", Bundle: "/b", Runtime: "/r", StateDir: t.TempDir(), ShimBinary: "/s",
		Socket: "/" + strings.Repeat("s", 120),
	})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "108") && !strings.Contains(err.Error(), "107") {
		t.Fatalf("long socket: %v", err)
	}
}
