package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/failpoint"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// The commit points of a container's life, in the order the lifecycle
// below passes them, and the daemon whose environment arms each (a shim
// inherits supervisord's). The store's points (content, snapshot, image
// records) are reached here by commit; load and pull have their own table
// (test/integration/supervisor_failpoints_test.go).
var lifecycleFailpoints = []struct{ name, daemon string }{
	{"volume-create-written", "engined"},           // the volume's dir and record written under a temp name
	{"volume-created", "engined"},                  // renamed into place
	{"container-recorded", "supervisord"},          // supervisor record made, its snapshot maybe not
	{"container-rootfs-prepared", "supervisord"},   // the snapshot made, its record maybe not
	{"engine-create-supervised", "engined"},        // supervisor record and snapshot, no engine record
	{"engine-create-recorded", "engined"},          // both records, the reply not sent
	{"task-rootfs-mounted", "supervisord"},         // the task's bundle and rootfs mount, a shim maybe being handed its task
	{"task-shim-started", "supervisord"},           // a shim, no container
	{"runtime-create-cgroups-made", "supervisord"}, // the shim dies in the create: init in its cgroups, not set up
	{"shim-runtime-created", "supervisord"},        // the shim dies with a created container
	{"task-created", "supervisord"},                // the shim holds a created container, no task record in memory
	{"engine-start-task-created", "engined"},       // a created task, the engine's record says created
	{"shim-runtime-started", "supervisord"},        // the shim dies with a running container
	{"engine-start-task-started", "engined"},       // the task runs, the engine's record says created
	{"shim-exec-started", "supervisord"},           // the shim dies with an exec running
	{"engine-exit-task-deleted", "engined"},        // the task deleted, the record still says running
	{"engine-exit-reported", "engined"},            // the exit recorded and reported
	{"task-shim-stopped", "supervisord"},           // the shim gone, its bundle and mount not yet
	{"snapshot-commit", "supervisord"},             // commit: the layer synced, its record active
	{"content-commit", "supervisord"},              // commit: a blob synced, not renamed
	{"image-record", "supervisord"},                // commit: layer and blobs stored, no name
	{"engine-remove-supervised", "engined"},        // supervisor container gone, the engine's record not
}

// lifecycle is the container life the failpoints are reached in; it stops
// at the first step that fails (the armed daemon died there).
var lifecycle = [][]string{
	{"volume", "create", "fpvol"},
	{"create", "--name", "fp", "-v", "fpvol:/data", "busybox", "sh", "-c", "echo hi > /data/x; exec sleep 1000"},
	{"start", "fp"},
	{"exec", "fp", "true"},
	{"stop", "-t", "1", "fp"},
	{"commit", "fp", "fpimg:1"},
	{"rm", "fp"},
}

// A daemon killed with SIGKILL (BERTH_FAILPOINT) at each commit point of a
// container's life, restarted, leaves records that agree with what runs
// (the engine's containers are the supervisor's, running exactly when
// their task runs), the stack works again (the same names, volume and
// image can be used), and once everything is removed nothing is left: no
// container or task record, active snapshot, state dir, cgroup, mount,
// shim, veth, lease or netns.
func TestFailpointsLifecycle(t *testing.T) {
	for _, fp := range lifecycleFailpoints {
		t.Run(fp.name, func(t *testing.T) { crashInLifecycle(t, fp.name, fp.daemon) })
	}
}

func crashInLifecycle(t *testing.T, fp, daemon string) {
	s := newStack(t)
	s.loadBusybox() // before arming: a load passes the store's points too
	fpLog := filepath.Join(s.root, "failpoint.log")
	arm := []string{failpoint.Env + "=" + fp, failpoint.LogEnv + "=" + fpLog}
	if daemon == "engined" {
		s.stop(s.engine)
		s.waitGone(s.engine)
		s.engEnv = arm
		s.startEngine()
	} else {
		s.stop(s.engine)
		s.waitGone(s.engine)
		s.stop(s.supervisor)
		s.waitGone(s.supervisor)
		s.supEnv = arm
		s.startSupervisor()
		s.startEngine()
	}
	failed := -1
	for i, step := range lifecycle {
		if _, _, code := s.run(step...); code != 0 {
			failed = i
			break
		}
	}
	b, _ := os.ReadFile(fpLog)
	if !strings.HasPrefix(string(b), fp+" ") {
		t.Fatalf("failpoint %s not reached (the lifecycle stopped at step %d; log %q)", fp, failed, b)
	}
	// Restart what died, disarmed. A shim's death leaves both daemons up:
	// supervisord is restarted disarmed (its shims carry the failpoint).
	s.supEnv, s.engEnv = nil, nil
	if daemon == "engined" {
		// The failpoint killed engined: wait until it is reaped, or
		// alive() below still sees the zombie and no engined is started.
		s.waitGone(s.engine)
	}
	if alive(s.supervisor) && daemon == "supervisord" {
		s.stop(s.supervisor)
	}
	if !alive(s.supervisor) || daemon == "supervisord" {
		s.waitGone(s.supervisor)
		s.startSupervisor()
	}
	if !alive(s.engine) {
		s.waitGone(s.engine)
		s.startEngine()
	}
	s.checkRecordsAgree(t)
	ids := s.allContainerIDs()

	// Everything works again with the same names.
	for _, id := range ids {
		s.mustRun("rm", "-f", id)
	}
	s.mustRun("volume", "create", "fpvol")
	if out := s.mustRun("run", "--rm", "--name", "fp", "-v", "fpvol:/data", "busybox", "sh", "-c", "echo again > /data/y; cat /data/y"); strings.TrimSpace(out) != "again" {
		t.Fatalf("run after the crash printed %q", out)
	}
	if imgs := s.mustRun("images", "-q", "fpimg:1"); strings.TrimSpace(imgs) != "" {
		// A committed image is whole: it runs.
		s.mustRun("run", "--rm", "fpimg:1", "true")
		s.mustRun("rmi", "fpimg:1")
	}
	ids = append(ids, s.allContainerIDs()...)
	for _, id := range s.allContainerIDs() {
		s.mustRun("rm", "-f", id)
	}
	s.mustRun("volume", "rm", "fpvol")
	if left := s.settledLeaks(ids); len(left) > 0 {
		t.Fatalf("after a crash at %s and removing everything: %v", fp, left)
	}
}

// alive tells whether a daemon's process has not been reaped.
func alive(cmd *exec.Cmd) bool { return cmd.Process.Signal(syscall.Signal(0)) == nil }

// waitGone waits for a daemon's process to be reaped.
func (s *stack) waitGone(cmd *exec.Cmd) {
	for i := 0; i < 500 && alive(cmd); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// allContainerIDs lists the engine's containers, running or not.
func (s *stack) allContainerIDs() []string {
	s.t.Helper()
	return strings.Fields(s.mustRun("ps", "-aq", "--no-trunc"))
}

// supervisorClient connects to the stack's supervisord in the engine's namespace.
func (s *stack) supervisorClient() *client.Client {
	s.t.Helper()
	c, err := client.New(s.supSock, client.WithNamespace("engine"), client.WithTimeout(10*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// checkRecordsAgree checks, for up to 10 s (an engine that lived through a
// supervisord crash notices a dead task when it reconnects), that the
// engine's containers are the supervisor's and run exactly when their
// task runs.
func (s *stack) checkRecordsAgree(t *testing.T) {
	t.Helper()
	var why string
	for i := 0; i < 50; i++ {
		if why = s.recordsDisagree(); why == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal(why)
}

func (s *stack) recordsDisagree() string {
	code, body := s.http("GET", "/containers/json?all=1", "", nil)
	if code != 200 {
		return "list: " + body
	}
	var engine []struct{ Id, State string }
	if err := json.Unmarshal([]byte(body), &engine); err != nil {
		return err.Error()
	}
	c := s.supervisorClient()
	defer c.Close()
	ctx := context.Background()
	cl, err := c.ContainerService().List(ctx, &pb.ListContainersRequest{})
	if err != nil {
		return "supervisor containers: " + err.Error()
	}
	tl, err := c.TaskService().List(ctx, &pb.ListTasksRequest{})
	if err != nil {
		return "supervisor tasks: " + err.Error()
	}
	var eng, sup []string
	for _, e := range engine {
		eng = append(eng, e.Id)
	}
	for _, sc := range cl.Containers {
		sup = append(sup, sc.Id)
	}
	slices.Sort(eng)
	slices.Sort(sup)
	if !slices.Equal(eng, sup) {
		return "engine containers " + strings.Join(eng, ",") + " but supervisor's " + strings.Join(sup, ",")
	}
	live := map[string]bool{}
	for _, task := range tl.Tasks {
		switch task.Status {
		case pb.TaskStatus_TASK_STATUS_RUNNING, pb.TaskStatus_TASK_STATUS_PAUSED, pb.TaskStatus_TASK_STATUS_CREATED:
			live[task.ContainerId] = syscall.Kill(int(task.Pid), 0) == nil
			if !live[task.ContainerId] {
				return "task " + task.ContainerId + " is " + task.Status.String() + " but its process is gone"
			}
		}
	}
	for _, e := range engine {
		if running := e.State == "running" || e.State == "paused"; running != live[e.Id] {
			return "container " + e.Id + " is " + e.State + " but its task live=" + map[bool]string{true: "yes", false: "no"}[live[e.Id]]
		}
	}
	return ""
}

// settledLeaks is stateLeaks once the background work has had its time:
// `run --rm` returns when the engine has forgotten the container, and the
// supervisor's part (task, shim, snapshot) is removed after that, off the
// run's path (pkg/engine/containers/autoremove.go); on a loaded machine a
// check made at once can see it in flight. What is still there after 15 s
// is a leak.
func (s *stack) settledLeaks(ids []string) []string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := s.stateLeaks(ids)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stateLeaks lists what is left of containers once the engine has none:
// records, tasks, active snapshots, state dirs, cgroups of the given IDs,
// half-made volumes. (Mounts, processes and network leftovers are checked
// by the stack's cleanup.)
func (s *stack) stateLeaks(ids []string) []string {
	s.t.Helper()
	var left []string
	c := s.supervisorClient()
	defer c.Close()
	ctx := context.Background()
	if cl, err := c.ContainerService().List(ctx, &pb.ListContainersRequest{}); err != nil {
		left = append(left, "containers: "+err.Error())
	} else {
		for _, x := range cl.Containers {
			left = append(left, "container record "+x.Id)
		}
	}
	if tl, err := c.TaskService().List(ctx, &pb.ListTasksRequest{}); err != nil {
		left = append(left, "tasks: "+err.Error())
	} else {
		for _, x := range tl.Tasks {
			left = append(left, "task "+x.ContainerId)
		}
	}
	if sl, err := c.SnapshotService().List(ctx, &pb.ListSnapshotsRequest{}); err != nil {
		left = append(left, "snapshots: "+err.Error())
	} else {
		for _, x := range sl.Info {
			if x.Kind != pb.SnapshotKind_SNAPSHOT_KIND_COMMITTED {
				left = append(left, "snapshot "+x.Name+" "+x.Kind.String())
			}
		}
	}
	for _, pattern := range []string{"eng/containers/*", "eng/volumes/.tmp-*", "run/tasks/engine/*", "run/shim/engine/*", "run/runtime/*/*", "run/s/*"} {
		m, _ := filepath.Glob(filepath.Join(s.root, pattern))
		for _, p := range m {
			if strings.HasPrefix(filepath.Base(p), "@") {
				continue // the runtime's own caches
			}
			left = append(left, "file "+strings.TrimPrefix(p, s.root+"/"))
		}
	}
	for _, id := range ids {
		for _, d := range cgroupDirs(id) {
			left = append(left, "cgroup "+d)
		}
	}
	return left
}
