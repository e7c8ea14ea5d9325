package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// subscribe opens an Events stream and waits until it is registered.
func (e *svEnv) subscribe(t *testing.T, ctx context.Context, topics ...string) <-chan *pb.Envelope {
	t.Helper()
	st, err := pb.NewEventsClient(e.conn).Subscribe(ctx, &pb.SubscribeRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *pb.Envelope, 256)
	go func() {
		defer close(ch)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

// nextEvent returns the next event of topic for id, failing after 20 s.
func nextEvent(t *testing.T, ch <-chan *pb.Envelope, topic, id string) *pb.Envelope {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("events ended before %s of %s", topic, id)
			}
			if m.Topic == topic && m.ContainerId == id {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", topic, id)
		}
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 250 && alive(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("pid %d still alive", pid)
	}
}

// A shim killed with SIGKILL takes its container down; the task is
// reported stopped (255: nobody saw the exit), on the event stream too,
// everything is cleaned, and the record survives a restart.
func TestSupervisorShimKilled(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	e.svContainer(t, ctx, "victim", "sleep", "1000")
	evs := e.subscribe(t, ctx, "/tasks/")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "victim"}); err != nil {
		t.Fatal(err)
	}
	s, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	pid := int(s.Task.Pid)
	shimPid := svParent(t, pid)
	cgDirs := cgroupDirsOf(t, pid)
	syscall.Kill(shimPid, syscall.SIGKILL)

	ev := nextEvent(t, evs, "/tasks/exit", "victim")
	if ev.ExitStatus != 255 || ev.Attributes["shim"] != "died" {
		t.Fatalf("exit event %+v", ev)
	}
	waitGone(t, pid)
	g, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: "victim"})
	if err != nil || g.Task.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.Task.ExitStatus != 255 {
		t.Fatalf("get: %v %+v", err, g)
	}
	if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "victim"}); err != nil || w.ExitStatus != 255 {
		t.Fatalf("wait: %v %+v", err, w)
	}
	if _, err := e.tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: "victim", Signal: 9}); !errdefs.IsFailedPrecondition(errdefs.FromGRPC(err)) {
		t.Fatalf("kill of a stopped task: %v", err)
	}
	if m := svMountsUnder(e.cfg.State); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	for _, d := range cgDirs {
		if _, err := os.Stat(d); err == nil {
			t.Fatalf("cgroup %s left", d)
		}
	}
	for _, d := range []string{"tasks/test/victim", "shim/test/victim"} {
		if _, err := os.Stat(filepath.Join(e.cfg.State, d)); err == nil {
			t.Fatalf("%s left", d)
		}
	}

	// Twice restarted, still there with its status.
	for i := 0; i < 2; i++ {
		e.stop(t)
		e.start(t)
		g, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: "victim"})
		if err != nil || g.Task.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.Task.ExitStatus != 255 {
			t.Fatalf("after restart %d: %v %+v", i, err, g)
		}
	}
	if d, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "victim"}); err != nil || d.ExitStatus != 255 {
		t.Fatalf("delete: %v %+v", err, d)
	}
	e.stop(t)
	e.start(t)
	if _, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: "victim"}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		t.Fatalf("deleted task after restart: %v", err)
	}
}

// cgroupDirsOf lists the cgroup directories of pid in every hierarchy.
func cgroupDirsOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) != 3 || !strings.Contains(p[2], "berth-test") {
			continue
		}
		h := strings.TrimPrefix(p[1], "name=")
		if h == "" {
			h = "unified"
		}
		out = append(out, filepath.Join("/sys/fs/cgroup", h, p[2]))
	}
	if len(out) == 0 {
		t.Fatalf("pid %d has no berth-test cgroup: %s", pid, b)
	}
	return out
}

// A container over its 16 MiB memory limit is OOM-killed: 137,
// oom_killed in Wait and Get, and a /tasks/oom event.
func TestSupervisorOOM(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	limit := int64(16 << 20)
	rt := e.cfg.Runtimes[0]
	e.lcContainer(t, ctx, img, rt, "hog", func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	}, "sh", "-c", "tail /dev/zero")
	evs := e.subscribe(t, ctx, "/tasks/")
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "hog"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "hog"}); err != nil {
		t.Fatal(err)
	}
	w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "hog"})
	if err != nil || w.ExitStatus != 137 || !w.OomKilled {
		t.Fatalf("wait: %v %+v", err, w)
	}
	g, err := e.tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: "hog"})
	if err != nil || !g.Task.OomKilled || g.Task.ExitStatus != 137 {
		t.Fatalf("get: %v %+v", err, g)
	}
	nextEvent(t, evs, "/tasks/oom", "hog")
	if ev := nextEvent(t, evs, "/tasks/exit", "hog"); ev.ExitStatus != 137 || ev.Attributes["oom_killed"] != "true" {
		t.Fatalf("exit event %+v", ev)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: "hog"}); err != nil {
		t.Fatal(err)
	}
}

// 100 quick containers, 4 at a time, run and removed: nothing is left
// (shim processes, mounts, cgroups, fifos, sockets, state directories).
func TestTasksChurnLeavesNothing(t *testing.T) {
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	rt := e.cfg.Runtimes[0]
	const n, workers = 100, 4
	ids := make(chan string, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("churn-%03d", i)
		e.lcContainer(t, ctx, img, rt, id, nil, "true")
		ids <- id
	}
	close(ids)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				errs <- runOnce(ctx, e, id, filepath.Join(e.dir, "logs", id+".log"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := svMountsUnder(e.dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	// Processes: anything still running with our state dir in its command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), e.cfg.State) {
			t.Errorf("process left: %s %q", p, b)
		}
	}
	for _, d := range []string{"tasks/test", "shim/test", "s", "runtime/test", "stopped/test"} {
		ents, _ := os.ReadDir(filepath.Join(e.cfg.State, d))
		for _, ent := range ents {
			// The runtime may keep shared files of its own in its root
			// ("@empty"); a container's state is named by its id.
			if !strings.HasPrefix(ent.Name(), "@") {
				t.Errorf("%s left: %s (of %d entries)", d, ent.Name(), len(ents))
				break
			}
		}
	}
	// fifos or sockets anywhere in the state dir.
	filepath.Walk(e.cfg.State, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
			t.Errorf("left: %s", p)
		}
		return nil
	})
	// cgroups of the containers (berth-test/churn-*), in every hierarchy.
	left, _ := filepath.Glob("/sys/fs/cgroup/*/*/berth-test/churn-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/berth-test/churn-*")
	deeper, _ := filepath.Glob("/sys/fs/cgroup/*/*/*/berth-test/churn-*")
	if all := append(append(left, more...), deeper...); len(all) != 0 {
		t.Errorf("cgroups left: %v", all)
	}
}

func runOnce(ctx context.Context, e *svEnv, id, log string) error {
	if _, err := e.tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: id, LogPath: log}); err != nil {
		return fmt.Errorf("%s create: %w", id, err)
	}
	if _, err := e.tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("%s start: %w", id, err)
	}
	if w, err := e.tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: id}); err != nil || w.ExitStatus != 0 {
		return fmt.Errorf("%s wait: %v %+v", id, err, w)
	}
	if _, err := e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("%s delete: %w", id, err)
	}
	if _, err := e.ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: id}); err != nil {
		return fmt.Errorf("%s delete container: %w", id, err)
	}
	return nil
}

// svProc is supervisord run as a process, so that it can be SIGKILLed.
type svProc struct {
	cmd  *exec.Cmd
	args []string
	sock string
	conn *grpc.ClientConn
}

func (p *svProc) start(t *testing.T) pb.TasksClient {
	t.Helper()
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Stderr = os.Stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", p.sock); err == nil {
			c.Close()
			break
		}
		if i > 500 {
			t.Fatal("supervisord does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+p.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p.conn = conn
	return pb.NewTasksClient(conn)
}

func (p *svProc) kill9() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// kill -9 of supervisord with 20 containers: none dies, their logs have
// no gap, all are listed and controllable after the restart, one that
// exited meanwhile reports its real exit code, and one whose shim died
// meanwhile is reported (255) and stays so across another restart.
func TestTasksKill9With20(t *testing.T) {
	binDir := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, binDir != "", "BERTH_BIN_DIR (bin/supervisord)")
	// Import and containers through an in-process supervisor, then the
	// same directories are served by a supervisord process.
	e := newSvEnv(t, true)
	ctx := svCtx(t)
	img := e.importBusybox(t, ctx, "busybox:latest")
	rt := e.cfg.Runtimes[0]
	const counters = 18
	for i := 0; i < counters; i++ {
		e.lcContainer(t, ctx, img, rt, fmt.Sprintf("count-%02d", i), nil,
			"sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done")
	}
	e.lcContainer(t, ctx, img, rt, "quitter", nil, "sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done; exit 42")
	e.lcContainer(t, ctx, img, rt, "orphan", nil, "sleep", "1000")
	e.stop(t)

	p := &svProc{sock: filepath.Join(e.dir, "svp.sock"), args: []string{filepath.Join(binDir, "supervisord"),
		"--root", e.cfg.Root, "--state", e.cfg.State, "--address", filepath.Join(e.dir, "svp.sock"),
		"--shim-path", e.cfg.ShimBinary, "--runtime", "test=" + rt.Path, "--default-runtime", "test", "--log-level", "warn"}}
	tasks := p.start(t)
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.kill9()
		}
		// Hand the directories back to the in-process supervisor, whose
		// cleanup deletes whatever is left.
		e.start(t)
	})
	ids := []string{"quitter", "orphan"}
	for i := 0; i < counters; i++ {
		ids = append(ids, fmt.Sprintf("count-%02d", i))
	}
	pids := map[string]uint32{}
	for _, id := range ids {
		if _, err := tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: id, LogPath: filepath.Join(e.dir, "logs", id+".log")}); err != nil {
			t.Fatal(err)
		}
		s, err := tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		pids[id] = s.Task.Pid
	}
	// An exec that outlives the restart.
	if _, err := tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: "count-03", ExecId: "long", Spec: execSpec(t, false, "sleep", "1000")}); err != nil {
		t.Fatal(err)
	}
	longStart, err := tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "count-03", ExecId: "long"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	p.kill9()

	// While supervisord is down: the quitter exits 42, the orphan's shim dies.
	os.WriteFile(filepath.Join(e.cfg.State, "tasks", "test", "quitter", "rootfs", "go"), nil, 0o644)
	orphanShim := svParent(t, int(pids["orphan"]))
	syscall.Kill(orphanShim, syscall.SIGKILL)
	waitGone(t, orphanShim)
	exitFile := filepath.Join(e.cfg.State, "shim", "test", "quitter", "exit.json")
	for i := 0; i < 250; i++ {
		if _, err := os.Stat(exitFile); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := map[string]int{}
	for i := 0; i < counters; i++ {
		id := fmt.Sprintf("count-%02d", i)
		before[id] = lastCount(t, filepath.Join(e.dir, "logs", id+".log"))
	}
	time.Sleep(300 * time.Millisecond) // the counters go on meanwhile

	tasks = p.start(t)
	l, err := tasks.List(ctx, &pb.ListTasksRequest{})
	if err != nil || len(l.Tasks) != len(ids) {
		t.Fatalf("list: %v %d tasks", err, len(l.GetTasks()))
	}
	for _, tk := range l.Tasks {
		switch tk.ContainerId {
		case "quitter":
			if tk.Status != pb.TaskStatus_TASK_STATUS_STOPPED || tk.ExitStatus != 42 {
				t.Errorf("quitter: %+v", tk)
			}
		case "orphan":
			if tk.Status != pb.TaskStatus_TASK_STATUS_STOPPED || tk.ExitStatus != 255 {
				t.Errorf("orphan: %+v", tk)
			}
		default:
			if tk.Status != pb.TaskStatus_TASK_STATUS_RUNNING || tk.Pid != pids[tk.ContainerId] || !alive(int(tk.Pid)) {
				t.Errorf("%s: %+v (pid was %d)", tk.ContainerId, tk, pids[tk.ContainerId])
			}
		}
	}
	waitGone(t, int(pids["orphan"])) // the container of the dead shim was taken down
	// Controllable: pause/resume one, exec in one, kill one.
	if _, err := tasks.Pause(ctx, &pb.PauseTaskRequest{ContainerId: "count-00"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Resume(ctx, &pb.ResumeTaskRequest{ContainerId: "count-00"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Exec(ctx, &pb.ExecProcessRequest{ContainerId: "count-01", ExecId: "x", Spec: execSpec(t, false, "sh", "-c", "exit 5")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: "count-01", ExecId: "x"}); err != nil {
		t.Fatal(err)
	}
	if w, err := tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "count-01", ExecId: "x"}); err != nil || w.ExitStatus != 5 {
		t.Fatalf("exec after restart: %v %+v", err, w)
	}
	lp, err := tasks.ListPids(ctx, &pb.ListPidsRequest{ContainerId: "count-03"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pi := range lp.Processes {
		found = found || (pi.Pid == longStart.Task.Pid && pi.ExecId == "long")
	}
	if !found {
		t.Errorf("exec long (pid %d) not in pids after restart: %v", longStart.Task.Pid, lp.Processes)
	}
	if _, err := tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: "count-03", ExecId: "long", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if w, err := tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "count-03", ExecId: "long"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("exec across the restart: %v %+v", err, w)
	}
	if _, err := tasks.Kill(ctx, &pb.KillTaskRequest{ContainerId: "count-02", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if w, err := tasks.Wait(ctx, &pb.WaitTaskRequest{ContainerId: "count-02"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("kill after restart: %v %+v", err, w)
	}

	// Once more: the stopped ones keep their statuses.
	p.kill9()
	tasks = p.start(t)
	for id, want := range map[string]uint32{"quitter": 42, "orphan": 255, "count-02": 137} {
		g, err := tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: id})
		if err != nil || g.Task.Status != pb.TaskStatus_TASK_STATUS_STOPPED || g.Task.ExitStatus != want {
			t.Errorf("%s after second restart: %v %+v", id, err, g)
		}
	}
	// Logs: consecutive numbers from 0, going on past the restarts.
	for i := 0; i < counters; i++ {
		id := fmt.Sprintf("count-%02d", i)
		n := checkCounterLog(t, filepath.Join(e.dir, "logs", id+".log"))
		if id != "count-02" && n <= before[id] {
			t.Errorf("%s: log stopped at %d (was %d while supervisord was down)", id, n, before[id])
		}
	}
	for _, id := range ids {
		if _, err := tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id, Force: true}); err != nil {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	p.kill9()
}

// lastCount is the last number in a counter's log (-1 if none).
func lastCount(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	last := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ Log string }
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(r.Log)); err == nil {
				last = n
			}
		}
	}
	return last
}

// checkCounterLog fails unless the log holds 0, 1, 2 ... with no gap, and
// returns the last number.
func checkCounterLog(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ Log string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v: %q", path, err, sc.Text())
		}
		n, err := strconv.Atoi(strings.TrimSpace(r.Log))
		if err != nil || n != want {
			t.Fatalf("%s: got %q, want %d", path, r.Log, want)
		}
		want++
	}
	return want - 1
}
