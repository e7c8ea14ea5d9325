package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/supervisor"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// lifecycleRuntimes are the runtimes the lifecycle suite runs on: ours
// (BERTH_BIN_DIR/runtime, else BERTH_TEST_RUNTIME), runc and crun.
func lifecycleRuntimes(t *testing.T) []supervisor.Runtime {
	t.Helper()
	ours := os.Getenv("BERTH_TEST_RUNTIME")
	if d := os.Getenv("BERTH_BIN_DIR"); d != "" {
		ours = filepath.Join(d, "runtime")
	}
	var rts []supervisor.Runtime
	if ours != "" && filepath.Base(ours) == "runtime" {
		rts = append(rts, supervisor.Runtime{Name: "berth", Path: ours})
	}
	for _, n := range []string{"runc", "crun"} {
		p, err := exec.LookPath(n)
		testprereq.Require(t, err == nil, "%s", n)
		rts = append(rts, supervisor.Runtime{Name: n, Path: p})
	}
	return rts
}

// newLifecycleEnv is a supervisor with every runtime of lifecycleRuntimes.
func newLifecycleEnv(t *testing.T) *svEnv {
	t.Helper()
	testprereq.Root(t)
	dir, err := os.MkdirTemp("", "bl")
	if err != nil {
		t.Fatal(err)
	}
	e := &svEnv{dir: dir}
	e.cfg = supervisor.Config{
		Root:       filepath.Join(dir, "root"),
		State:      filepath.Join(dir, "state"),
		Address:    filepath.Join(dir, "sv.sock"),
		Runtimes:   lifecycleRuntimes(t),
		ShimBinary: shimBinary(t, dir),
	}
	e.cfg.DefaultRuntime = e.cfg.Runtimes[0].Name
	t.Cleanup(func() {
		if e.srv != nil {
			ctx := context.WithoutCancel(svCtx(t))
			if l, err := e.tasks.List(ctx, &pb.ListTasksRequest{}); err == nil {
				for _, tk := range l.Tasks {
					e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: tk.ContainerId, Force: true})
				}
			}
		}
		e.stop(t)
		svUnmountUnder(dir)
		os.RemoveAll(dir)
		shimRemoveTestCgroups()
	})
	e.start(t)
	return e
}

// lcContainer creates a container of runtime rt running args, with the
// spec (rt's own template) changed by mod.
func (e *svEnv) lcContainer(t *testing.T, ctx context.Context, img *pb.Image, rt supervisor.Runtime, id string, mod func(*specs.Spec), args ...string) {
	t.Helper()
	if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: id + "-rootfs", Parent: img.ChainId}); err != nil {
		t.Fatal(err)
	}
	// Each runtime's own template: crun 1.8 refuses newer spec versions.
	raw := svSpec(t, rt.Path, id, args...)
	if mod != nil {
		var spec specs.Spec
		if err := json.Unmarshal(raw, &spec); err != nil {
			t.Fatal(err)
		}
		mod(&spec)
		raw, _ = json.Marshal(&spec)
	}
	if _, err := e.ctrs.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{
		Id: id, Image: img.Name, Spec: raw, SnapshotKey: id + "-rootfs", Runtime: &pb.Runtime{Name: rt.Name},
	}}); err != nil {
		t.Fatal(err)
	}
}

// lcCollect reads an attach stream to its end.
func lcCollect(t *testing.T, st pb.Tasks_AttachClient) <-chan string {
	t.Helper()
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		for {
			m, err := st.Recv()
			if err != nil {
				out <- b.String()
				return
			}
			b.Write(m.Data)
		}
	}()
	return out
}

func execSpec(t *testing.T, terminal bool, args ...string) []byte {
	t.Helper()
	b, err := json.Marshal(&specs.Process{
		Terminal: terminal, Args: args, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin"},
		User: specs.User{UID: 0, GID: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTasksLifecycle (named apart from TestSupervisor*: the Makefile's runc
// pass would run it twice) runs the same lifecycle on each runtime: create,
// attach, start, exec (output, exit code, stdin, kill), pause, resume,
// pids, metrics, init exit code, delete, and the events of all that.
func TestTasksLifecycle(t *testing.T) {
	e := newLifecycleEnv(t)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	for _, rt := range e.cfg.Runtimes {
		t.Run(rt.Name, func(t *testing.T) {
			id := "lc-" + rt.Name
			evCtx, stopEv := context.WithCancel(ctx)
			defer stopEv()
			ev, err := e.conn.NewStream(evCtx, &pb.Events_ServiceDesc.Streams[0], "/berth.supervisor.v1.Events/Subscribe")
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.SendMsg(&pb.SubscribeRequest{Topics: []string{"/tasks/"}}); err != nil {
				t.Fatal(err)
			}
			ev.CloseSend()
			if _, err := ev.Header(); err != nil {
				t.Fatal(err)
			}

			e.lcContainer(t, ctx, img, rt, id, nil, "sh", "-c", "echo hello $0; read x; echo got $x; exit 3", rt.Name)
			logPath := filepath.Join(e.dir, id+".log")
			c, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: id, LogPath: logPath, Stdin: true})
			if err != nil {
				t.Fatal(err)
			}
			if c.Task.Runtime != rt.Name {
				t.Fatalf("runtime %q", c.Task.Runtime)
			}
			initPid := c.Task.Pid
			att, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: id})
			if err != nil {
				t.Fatal(err)
			}
			initOut := lcCollect(t, att)
			if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}

			// An exec: its own output and exit code, nothing in the log.
			if _, err := e.tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: id, ExecId: "e1",
				Spec: execSpec(t, false, "sh", "-c", "echo exec-out; echo exec-err >&2; exit 7")}); err != nil {
				t.Fatal(err)
			}
			ea, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: id, ExecId: "e1"})
			if err != nil {
				t.Fatal(err)
			}
			execOut := lcCollect(t, ea)
			s, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id, ExecId: "e1"})
			if err != nil {
				t.Fatal(err)
			}
			if s.Task.Pid == 0 || s.Task.Pid == initPid {
				t.Fatalf("exec pid %d (init %d)", s.Task.Pid, initPid)
			}
			w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id, ExecId: "e1"})
			if err != nil || w.ExitStatus != 7 {
				t.Fatalf("exec wait: %v %+v", err, w)
			}
			if out := <-execOut; !strings.Contains(out, "exec-out\n") || !strings.Contains(out, "exec-err\n") {
				t.Fatalf("exec output %q", out)
			}
			if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id, ExecId: "e1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id, ExecId: "e1"}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
				t.Fatalf("wait deleted exec: %v", err)
			}

			// An exec with stdin.
			if _, err := e.tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: id, ExecId: "cat", Stdin: true,
				Spec: execSpec(t, false, "cat")}); err != nil {
				t.Fatal(err)
			}
			ca, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: id, ExecId: "cat"})
			if err != nil {
				t.Fatal(err)
			}
			catOut := lcCollect(t, ca)
			if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id, ExecId: "cat"}); err != nil {
				t.Fatal(err)
			}
			ws, err := e.tasks.WriteStdin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ws.Send(&pb.WriteStdinRequest{ContainerId: id, ExecId: "cat", Data: []byte("through cat\n"), Close: true})
			if _, err := ws.CloseAndRecv(); err != nil {
				t.Fatal(err)
			}
			if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id, ExecId: "cat"}); err != nil || w.ExitStatus != 0 {
				t.Fatalf("cat wait: %v %+v", err, w)
			}
			if out := <-catOut; out != "through cat\n" {
				t.Fatalf("cat output %q", out)
			}

			// An exec killed.
			if _, err := e.tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: id, ExecId: "sleeper",
				Spec: execSpec(t, false, "sleep", "300")}); err != nil {
				t.Fatal(err)
			}
			sl, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id, ExecId: "sleeper"})
			if err != nil {
				t.Fatal(err)
			}

			pids, err := e.tasks.ListPids(ctx, &pb.ListPidsRequest{ContainerId: id})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			sleeperSeen := false
			for _, p := range pids.Processes {
				got = append(got, p.Pid)
				if p.Pid == sl.Task.Pid && p.ExecId == "sleeper" {
					sleeperSeen = true
				}
			}
			if !slices.Contains(got, initPid) || !sleeperSeen {
				t.Fatalf("pids %v: want init %d and exec sleeper %d", pids.Processes, initPid, sl.Task.Pid)
			}
			met, err := e.tasks.Metrics(ctx, &pb.MetricsRequest{ContainerId: id})
			if err != nil {
				t.Fatal(err)
			}
			if met.MemoryUsage == 0 || met.PidsCurrent < 2 || met.CpuUsageNs == 0 {
				t.Fatalf("metrics %+v", met)
			}

			if _, err := e.tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: id, ExecId: "sleeper", Signal: 9}); err != nil {
				t.Fatal(err)
			}
			if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id, ExecId: "sleeper"}); err != nil || w.ExitStatus != 137 {
				t.Fatalf("killed exec: %v %+v", err, w)
			}

			// Pause and resume.
			if _, err := e.tasks.Pause(ctx, &pb.PauseTaskRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
			if g, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: id}); err != nil || g.Task.Status != pb.TaskStatus_TASK_STATUS_PAUSED {
				t.Fatalf("paused: %v %+v", err, g)
			}
			if _, err := e.tasks.Resume(ctx, &pb.ResumeTaskRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
			if g, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: id}); err != nil || g.Task.Status != pb.TaskStatus_TASK_STATUS_RUNNING {
				t.Fatalf("resumed: %v %+v", err, g)
			}

			// The init reads a line and exits 3.
			ws, err = e.tasks.WriteStdin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ws.Send(&pb.WriteStdinRequest{ContainerId: id, Data: []byte("bye\n")})
			if _, err := ws.CloseAndRecv(); err != nil {
				t.Fatal(err)
			}
			if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id}); err != nil || w.ExitStatus != 3 {
				t.Fatalf("init wait: %v %+v", err, w)
			}
			if out := <-initOut; out != "hello "+rt.Name+"\ngot bye\n" {
				t.Fatalf("init output %q", out)
			}
			b, _ := os.ReadFile(logPath)
			if !strings.Contains(string(b), `"log":"got bye\n"`) || strings.Contains(string(b), "exec-out") {
				t.Fatalf("log %s", b)
			}
			d, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id})
			if err != nil || d.ExitStatus != 3 {
				t.Fatalf("delete: %v %+v", err, d)
			}
			if m := svMountsUnder(e.cfg.State); len(m) != 0 {
				t.Fatalf("mounts left: %v", m)
			}

			want := []string{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started:e1", "/tasks/exit:e1:7",
				"/tasks/exec-added", "/tasks/exec-started:cat", "/tasks/exit:cat:0", "/tasks/exec-added", "/tasks/exec-started:sleeper",
				"/tasks/exit:sleeper:137", "/tasks/paused", "/tasks/resumed", "/tasks/exit::3", "/tasks/delete"}
			var seen []string
			deadline := time.After(10 * time.Second)
			evs := make(chan *pb.Envelope)
			go func() {
				for {
					var m pb.Envelope
					if err := ev.RecvMsg(&m); err != nil {
						close(evs)
						return
					}
					evs <- &m
				}
			}()
			for len(seen) < len(want) {
				select {
				case m, ok := <-evs:
					if !ok {
						t.Fatalf("events ended: %v", seen)
					}
					if m.ContainerId != id || m.Namespace != "test" {
						t.Fatalf("event %+v", m)
					}
					s := m.Topic
					switch m.Topic {
					case "/tasks/exec-started":
						s += ":" + m.ExecId
					case "/tasks/exit":
						s += ":" + m.ExecId + ":" + lcItoa(m.ExitStatus)
					}
					seen = append(seen, s)
				case <-deadline:
					t.Fatalf("events: got %v, want %v", seen, want)
				}
			}
			// An exec's exit may be published just after its Wait returned,
			// so compare the sets per process, in order.
			if !sameOrderPerKey(seen, want) {
				t.Fatalf("events: got %v, want %v", seen, want)
			}
		})
	}
}

func lcItoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// sameOrderPerKey: both hold the same events, and the events of the init
// keep their order (exec exits race with later calls of the test).
func sameOrderPerKey(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return false
	}
	var gi, wi []string
	for _, s := range got {
		if !strings.Contains(s, ":") && !strings.HasPrefix(s, "/tasks/exec-added") {
			gi = append(gi, s)
		}
	}
	for _, s := range want {
		if !strings.Contains(s, ":") && !strings.HasPrefix(s, "/tasks/exec-added") {
			wi = append(wi, s)
		}
	}
	return slices.Equal(gi, wi) && got[len(got)-1] == "/tasks/delete"
}

// An exec with a pty: resize reaches it, stdin goes through the pty, and
// its output comes back on the attach stream.
func TestSupervisorExecTerminal(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	e.lcContainer(t, ctx, img, e.cfg.Runtimes[0], "tty", nil, "sleep", "1000")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "tty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "tty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: "tty", ExecId: "t", Stdin: true, Terminal: true,
		Spec: execSpec(t, true, "sh", "-c", "read x; echo size $(stty size) $x; [ -t 0 ] && echo tty")}); err != nil {
		t.Fatal(err)
	}
	a, err := e.tasks.Attach(ctx, &pb.AttachTaskRequest{ContainerId: "tty", ExecId: "t"})
	if err != nil {
		t.Fatal(err)
	}
	out := lcCollect(t, a)
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "tty", ExecId: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.ResizePty(ctx, &pb.ResizePtyRequest{ContainerId: "tty", ExecId: "t", Width: 123, Height: 45}); err != nil {
		t.Fatal(err)
	}
	ws, err := e.tasks.WriteStdin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws.Send(&pb.WriteStdinRequest{ContainerId: "tty", ExecId: "t", Data: []byte("word\n")})
	if _, err := ws.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "tty", ExecId: "t"}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %+v", err, w)
	}
	if o := <-out; !strings.Contains(o, "size 45 123 word") || !strings.Contains(o, "tty") {
		t.Fatalf("output %q", o)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "tty", Force: true}); err != nil {
		t.Fatal(err)
	}
}
