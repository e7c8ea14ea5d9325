package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// TestTasksThroughClient drives the built supervisord of a private stack
// with pkg/client, as the engine does: exec with stdin, pids, metrics,
// pause, events, then kill -9 of supervisord and the container carries on
// (its log has no gap) and stays controllable.
func TestTasksThroughClient(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(s.supSock, client.WithNamespace("e2e-tasks"), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	ts := c.TaskService()
	t.Cleanup(func() {
		// Before the stack's cleanup: it only knows the engine's namespace.
		cc, err := client.New(s.supSock, client.WithNamespace("e2e-tasks"))
		if err != nil {
			return
		}
		defer cc.Close()
		bg := context.Background()
		cc.TaskService().Delete(bg, &supervisorv1.DeleteTaskRequest{ContainerId: "counter", Force: true})
		cc.ContainerService().Delete(bg, &supervisorv1.DeleteContainerRequest{Id: "counter"})
		removeCgroupParent("berth-e2e")
	})

	var buf bytes.Buffer
	if err := image.DockerArchive(&buf, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	imgs, err := c.Import(ctx, &buf, "")
	if err != nil {
		t.Fatal(err)
	}
	spec := runtimeSpec(t, "sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done")
	if _, err := c.NewContainer(ctx, "counter", imgs[0], spec, "", nil); err != nil {
		t.Fatal(err)
	}
	evCtx, stopEv := context.WithCancel(ctx)
	defer stopEv()
	evs, err := c.Subscribe(evCtx, "/tasks/")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(s.root, "counter.log")
	if _, err := ts.Create(ctx, &supervisorv1.CreateTaskRequest{ContainerId: "counter", LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	st, err := ts.Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: "counter"})
	if err != nil {
		t.Fatal(err)
	}
	pid := st.Task.Pid

	// exec with stdin, attached before it starts.
	var out <-chan string
	_, err = c.Exec(ctx, "counter", "cat", client.ExecOpts{Spec: procSpec(t, "cat"), Stdin: true}, func() error {
		a, err := ts.Attach(ctx, &supervisorv1.AttachTaskRequest{ContainerId: "counter", ExecId: "cat"})
		if err != nil {
			return err
		}
		if _, err := a.Header(); err != nil {
			return err
		}
		ch := make(chan string, 1)
		out = ch
		go func() {
			var b bytes.Buffer
			for {
				m, err := a.Recv()
				if err != nil {
					ch <- b.String()
					return
				}
				b.Write(m.Data)
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.OpenStdin(ctx, "counter", "cat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if err := in.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if w, err := ts.Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: "counter", ExecId: "cat"}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("exec wait: %v %+v", err, w)
	}
	if o := <-out; o != "ping\n" {
		t.Fatalf("exec output %q", o)
	}
	pids, err := c.TaskPids(ctx, "counter")
	if err != nil || !slices.ContainsFunc(pids, func(p *supervisorv1.ProcessInfo) bool { return p.Pid == pid }) {
		t.Fatalf("pids: %v %v (init %d)", err, pids, pid)
	}
	if m, err := c.TaskMetrics(ctx, "counter"); err != nil || m.MemoryUsage == 0 || m.PidsCurrent == 0 {
		t.Fatalf("metrics: %v %+v", err, m)
	}
	if _, err := ts.Pause(ctx, &supervisorv1.PauseTaskRequest{ContainerId: "counter"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Resume(ctx, &supervisorv1.ResumeTaskRequest{ContainerId: "counter"}); err != nil {
		t.Fatal(err)
	}
	var topics []string
	for len(topics) < 7 {
		e, err := evs.Recv()
		if err != nil {
			t.Fatalf("events after %v: %v", topics, err)
		}
		topics = append(topics, e.Topic)
	}
	for _, want := range []string{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", "/tasks/paused", "/tasks/resumed"} {
		if !slices.Contains(topics, want) {
			t.Fatalf("events %v lack %s", topics, want)
		}
	}

	// kill -9 of supervisord: the container keeps running and logging.
	stopEv()
	c.Close()
	before := counterLog(t, logPath)
	s.kill9(s.supervisor)
	time.Sleep(500 * time.Millisecond)
	s.startSupervisor()
	c, err = client.New(s.supSock, client.WithNamespace("e2e-tasks"), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ts = c.TaskService()
	g, err := ts.Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: "counter"})
	if err != nil || g.Task.Pid != pid || g.Task.Status != supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
		t.Fatalf("after restart: %v %+v", err, g)
	}
	// The counter goes on, logged by its shim, with or without supervisord.
	for i := 0; i < 100 && counterLog(t, logPath) < before+20; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	evs, err = c.Subscribe(ctx, "/tasks/exit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: "counter", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	e, err := evs.Recv()
	if err != nil || e.ContainerId != "counter" || e.ExitStatus != 137 {
		t.Fatalf("exit event: %v %+v", err, e)
	}
	if _, err := ts.Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: "counter"}); err != nil {
		t.Fatal(err)
	}
	if n := counterLog(t, logPath); n < before+20 {
		t.Fatalf("counter at %d, was %d before the restart", n, before)
	}
}

// counterLog checks that a json-file log holds 0, 1, 2 ... with no gap and
// returns how many lines it has.
func counterLog(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Log string }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got := strings.TrimSpace(rec.Log); got != strconv.Itoa(n) {
			t.Fatalf("log line %d is %q", n, got)
		}
		n++
	}
}

// runtimeSpec is bin/runtime's default spec running args, with a cgroup
// below ours.
func runtimeSpec(t *testing.T, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(filepath.Join(binDir(t), "runtime"), "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("runtime spec: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Args = args
	spec.Process.Terminal = false
	spec.Process.Env = []string{"PATH=/bin"}
	spec.Linux.CgroupsPath = "berth-e2e/counter"
	b, _ = json.Marshal(&spec)
	return b
}

func procSpec(t *testing.T, args ...string) []byte {
	t.Helper()
	b, err := json.Marshal(&specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// removeCgroupParent removes the (empty) parent cgroup name below our own
// cgroup in every hierarchy.
func removeCgroupParent(name string) {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) != 3 {
			continue
		}
		for _, c := range strings.Split(p[1], ",") {
			c = strings.TrimPrefix(c, "name=")
			if c == "" {
				c = "unified"
			}
			os.Remove(filepath.Join("/sys/fs/cgroup", c, p[2], name))
		}
	}
}
