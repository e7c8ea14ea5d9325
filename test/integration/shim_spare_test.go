package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	shimclient "github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// A spare shim, started before its container is known, serves the container
// it is then given exactly as a shim started for it: same process, its log
// in the state dir, the container's output and exit.
func TestShimSpareServesContainer(t *testing.T) {
	rt := shimRuntime(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	id := "shimspare-" + filepath.Base(dir)
	root, stateDir := filepath.Join(dir, "rt"), filepath.Join(dir, "state")
	logPath := filepath.Join(dir, "logs", "c.log")
	bundle := shimBundle(t, rt, dir, id, "sh", "-c", "echo from-spare")
	var shimPid int
	shimCleanup(t, rt, root, id, &shimPid)

	sp, err := shimclient.StartSpare(shimBinary(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	shimPid = sp.Pid()
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
	if _, err := c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	w, err := c.Wait(ctx)
	if err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %v", w, err)
	}
	if out, _ := os.ReadFile(logPath); !strings.Contains(string(out), "from-spare") {
		t.Fatalf("container log %q", out)
	}
	// Its stderr is the state dir's shim.log, as for any shim.
	if lb, _ := os.ReadFile(filepath.Join(stateDir, record.ShimLogFile)); !strings.Contains(string(lb), "listening on") {
		t.Fatalf("shim.log %q", lb)
	}
	if _, err := c.Delete(ctx, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	c.Shutdown(ctx)
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("shim did not exit after shutdown")
	}
	if _, err := sp.Start(ctx, shimclient.StartOpts{}); !errors.Is(err, shimclient.ErrSpareGone) {
		t.Fatalf("a used spare started again: %v", err)
	}
}

// A spare nobody gives a container exits when its config socket closes
// (Close, or its launcher's death, which closes it too), leaving nothing.
func TestShimSpareDropped(t *testing.T) {
	dir := t.TempDir()
	sp, err := shimclient.StartSpare(shimBinary(t, dir))
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
