package integration

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	shimclient "github.com/berthd/berth/pkg/shim/client"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// collect gathers an attach stream until it ends.
func collect(t *testing.T, a *shimclient.AttachStream) func() string {
	var mu sync.Mutex
	var b strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := a.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("attach: %v", err)
				}
				return
			}
			mu.Lock()
			b.Write(m.Data)
			mu.Unlock()
		}
	}()
	return func() string {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("attach stream did not end")
		}
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}

func TestShimStdin(t *testing.T) {
	e := newShimEnv(t, "cat")
	ctx := shimCtx(t)
	if _, err := e.c.Create(ctx, &shimv1.CreateRequest{LogPath: e.logPath, Stdin: true}); err != nil {
		t.Fatal(err)
	}
	a, err := e.c.Attach(ctx, true, true)
	if err != nil {
		t.Fatal(err)
	}
	out := collect(t, a)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Two streams: detaching the first leaves stdin open.
	w, err := e.c.Stdin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = e.c.Stdin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "again\n")
	if err := w.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	res, err := e.c.Wait(ctx)
	if err != nil || res.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", res, err)
	}
	if got := out(); got != "hello\nagain\n" {
		t.Fatalf("output %q", got)
	}
	if _, err := e.c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	shimShutdown(t, ctx, e)
}

func TestShimTerminal(t *testing.T) {
	e := newShimEnvTerminal(t, true, "sh", "-c", "stty size; read x; echo got $x; exit 4")
	ctx := shimCtx(t)
	if _, err := e.c.Create(ctx, &shimv1.CreateRequest{LogPath: e.logPath, Terminal: true, Stdin: true}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := e.c.ResizePty(ctx, 100, 30); err != nil {
		t.Fatalf("resize: %v", err)
	}
	a, err := e.c.Attach(ctx, true, true)
	if err != nil {
		t.Fatal(err)
	}
	out := collect(t, a)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := e.c.Stdin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "pty\n")
	w.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := e.c.Wait(wctx)
	if err != nil || res.ExitStatus != 4 {
		t.Fatalf("wait: %v %v", res, err)
	}
	got := out()
	// The pty echoes input and turns \n into \r\n.
	if !strings.Contains(got, "30 100\r\n") || !strings.Contains(got, "got pty\r\n") {
		t.Fatalf("output %q", got)
	}
	if _, err := e.c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	shimShutdown(t, ctx, e)
}

// Without a pid namespace a background child outlives init and keeps
// stdout open: Wait still returns (after the drain grace), with the output
// written so far in the log.
func TestShimDrainGrace(t *testing.T) {
	rt := shimRuntime(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	id := "shimtest-" + filepath.Base(dir)
	root := filepath.Join(dir, "rt")
	bundle := shimBundleSpec(t, rt, dir, id, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}, "sh", "-c", "sleep 30 & echo bye")
	var shimPid int
	shimCleanup(t, rt, root, id, &shimPid)
	ctx := shimCtx(t)
	c, err := shimclient.Start(ctx, shimclient.StartOpts{
		ID: id, Bundle: bundle, Runtime: rt, RuntimeRoot: root,
		Socket: filepath.Join(dir, "s.sock"), StateDir: filepath.Join(dir, "state"),
		ShimBinary: shimBinary(t, dir),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	shimPid = c.Pid()
	logPath := filepath.Join(dir, "c.log")
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogPath: logPath, LogFormat: shimv1.LogFormat_LOG_FORMAT_CRI}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	res, err := c.Wait(ctx)
	if err != nil || res.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", res, err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("wait took %v", d)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.HasSuffix(string(b), " stdout F bye\n") {
		t.Fatalf("log %q", b)
	}
	// Delete takes the leftover sleep down with the container.
	if _, err := c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("shim did not exit")
	}
}

// The container's init gets its stdio and nothing else of the shim's.
func TestShimNoLeakedFds(t *testing.T) {
	e := newShimEnv(t, "ls", "/proc/self/fd")
	ctx := shimCtx(t)
	e.create(t, ctx)
	a, err := e.c.Attach(ctx, true, true)
	if err != nil {
		t.Fatal(err)
	}
	out := collect(t, a)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := e.c.Wait(ctx); err != nil || res.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", res, err)
	}
	// 3 is the directory ls reads.
	if got := strings.Fields(out()); strings.Join(got, " ") != "0 1 2 3" {
		t.Fatalf("fds in the container: %v", got)
	}
	if _, err := e.c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	shimShutdown(t, ctx, e)
}
