package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// TestTaskMadeAhead: engined makes a created container's task in the
// background (docs/engine.md); with the real daemons and runtime, a copy
// into the container drops it before writing (the start sees the file),
// an unused one goes after its linger with its network namespace, a
// removal and a kill -9 of engined leave nothing.
func TestTaskMadeAhead(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	sup := s.supervisorClient()
	defer sup.Close()
	// task is the status of id's task; a task being deleted may answer
	// an error of its shim's going (unknown status, still there).
	task := func(id string) (supervisorv1.TaskStatus, bool) {
		tk, err := sup.TaskService().Get(context.Background(), &supervisorv1.GetTaskRequest{ContainerId: id})
		if errdefs.IsNotFound(err) {
			return 0, false
		}
		if err != nil {
			t.Logf("task %s: %v", id, err)
			return supervisorv1.TaskStatus_TASK_STATUS_UNKNOWN, true
		}
		return tk.GetTask().GetStatus(), true
	}
	netns := func(id string) bool {
		_, err := os.Stat(filepath.Join(s.root, "engrun", "netns", id))
		return err == nil
	}
	startA := func(id string) string {
		t.Helper()
		out, errOut, code := s.docker("start", "-a", id)
		if code != 0 {
			t.Fatalf("docker start -a %s: %d %s", id, code, errOut)
		}
		return out
	}
	made := func(id string) {
		t.Helper()
		eventually(t, "the task made ahead of "+id, func() bool {
			st, ok := task(id)
			return ok && st == supervisorv1.TaskStatus_TASK_STATUS_CREATED
		})
		if got := s.inspectField(id, "{{.State.Status}} {{.State.Pid}}"); got != "created 0" {
			t.Fatalf("%s with its task made ahead: %q", id, got)
		}
	}

	// cp into the container: the task is dropped, the start makes it again
	// and the container sees the file.
	id := strings.TrimSpace(s.mustRun("create", "busybox", "cat", "/tmp/f"))
	made(id)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("copied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustRun("cp", src, id+":/tmp/f")
	if _, ok := task(id); ok {
		t.Fatal("the task made ahead outlived a copy into the container")
	}
	if out := startA(id); out != "copied\n" {
		t.Fatalf("start after the copy: %q", out)
	}

	// Not started: gone after the linger, namespace and all; it starts as
	// any other afterwards.
	id = strings.TrimSpace(s.mustRun("create", "busybox", "echo", "late"))
	made(id)
	if !netns(id) {
		t.Fatal("no network namespace reserved for the task made ahead")
	}
	eventually(t, "the unused task's deletion", func() bool { _, ok := task(id); return !ok && !netns(id) })
	if got := s.inspectField(id, "{{.State.Status}}"); got != "created" {
		t.Fatalf("after the linger: %q", got)
	}
	if out := startA(id); out != "late\n" {
		t.Fatalf("start after the linger: %q", out)
	}

	// Removed before its start.
	id = strings.TrimSpace(s.mustRun("create", "busybox", "true"))
	made(id)
	s.mustRun("rm", id)

	// engined killed with a task made ahead: the next engined deletes it,
	// and the container starts.
	id = strings.TrimSpace(s.mustRun("create", "busybox", "echo", "after"))
	made(id)
	s.kill9(s.engine)
	s.startEngine()
	eventually(t, "the stale task's deletion", func() bool { _, ok := task(id); return !ok && !netns(id) })
	time.Sleep(100 * time.Millisecond)
	if out := startA(id); out != "after\n" {
		t.Fatalf("start after engined's restart: %q", out)
	}

	s.mustRun("container", "prune", "-f")
	s.waitAllRemoved()
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("network left: %v", leaks)
	}
}
