package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	shimclient "github.com/berthd/berth/pkg/shim/client"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

func TestShimPauseResume(t *testing.T) {
	e := newShimEnv(t, "sleep", "100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	if err := e.c.Pause(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("pause of a created container: %v", err)
	}
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Pause(ctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if st, err := e.c.State(ctx); err != nil || st.Status != shimv1.Status_STATUS_PAUSED {
		t.Fatalf("state: %v %v", st, err)
	}
	if err := e.c.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if st, err := e.c.State(ctx); err != nil || st.Status != shimv1.Status_STATUS_RUNNING {
		t.Fatalf("state: %v %v", st, err)
	}
	// A paused container can still be force-deleted.
	if err := e.c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := e.c.Delete(ctx, true); err != nil || d.ExitStatus != 137 {
		t.Fatalf("force delete of a paused container: %v %v", d, err)
	}
	shimShutdown(t, ctx, e)
}

// The OOM killer's victim is reported as such.
func TestShimOOMKilled(t *testing.T) {
	rt := shimRuntime(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	id := "shimtest-" + filepath.Base(dir)
	root := filepath.Join(dir, "rt")
	limit := int64(16 << 20)
	bundle := shimBundleSpec(t, rt, dir, id, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	}, "sh", "-c", `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`)
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
	if _, err := c.Create(ctx, &shimv1.CreateRequest{LogFormat: shimv1.LogFormat_LOG_FORMAT_NONE}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx)
	if err != nil || res.ExitStatus != 137 || !res.OomKilled {
		t.Fatalf("wait: %v %v, want 137 and oom_killed", res, err)
	}
	if _, err := c.Delete(ctx, false); err != nil {
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
