package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (e *env) create(t *testing.T, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.cl.ContainerCreate(context.Background(), client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

func (e *env) startC(t *testing.T, id string) {
	t.Helper()
	if _, err := e.cl.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) inspect(t *testing.T, id string) container.InspectResponse {
	t.Helper()
	res, err := e.cl.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container
}

// A StdinOnce container gets its stdin from the attach, and EOF at the
// client's half-close.
func TestAttachStdin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true}, nil)
	att, err := e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	wait := e.cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	e.startC(t, id)
	if _, err := att.Conn.Write([]byte("hello stdin\n")); err != nil {
		t.Fatal(err)
	}
	if err := att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, io.Discard, att.Reader); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello stdin\n" {
		t.Errorf("output %q", out.String())
	}
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			t.Errorf("exit %d", r.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("cat did not exit at stdin's EOF")
	}
}

// ctrl-p ctrl-q ends a tty attach without closing stdin; the container
// keeps running.
func TestAttachDetachKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"cat"}, Tty: true, OpenStdin: true, AttachStdin: true, AttachStdout: true}, nil)
	e.startC(t, id)
	att, err := e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	// A partial sequence is passed on.
	att.Conn.Write([]byte("a\x10b"))
	got := make([]byte, 3)
	if _, err := io.ReadFull(att.Reader, got); err != nil || string(got) != "a\x10b" {
		t.Errorf("output before detach %q %v", got, err)
	}
	att.Conn.Write([]byte("\x10\x11"))
	if rest, err := io.ReadAll(att.Reader); err != nil || len(rest) != 0 { // ends at the detach
		t.Errorf("after detach: %q %v", rest, err)
	}
	if !e.inspect(t, id).State.Running {
		t.Fatal("container stopped at detach")
	}
	if _, err := e.cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: 40, Width: 100}); err != nil {
		t.Fatal(err)
	}
	if w, h := e.sup.Size(id, ""); w != 100 || h != 40 {
		t.Errorf("pty size %dx%d", w, h)
	}
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}, Env: []string{"A=1"}, WorkingDir: "/srv"}, nil)
	e.startC(t, id)

	ex, err := e.cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"fail", "3", "oops"}, Env: []string{"B=2"}, User: "1000:1000", AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	stdcopy.StdCopy(io.Discard, &stderr, att.Reader)
	att.Close()
	if stderr.String() != "oops\n" {
		t.Errorf("exec stderr %q", stderr.String())
	}
	res, err := e.cl.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Running || res.ExitCode != 3 {
		t.Errorf("exec inspect: %+v", res)
	}
	p := e.sup.Execs[0]
	if strings.Join(p.Env, " ") != strings.Join(append(e.inspect(t, id).Config.Env, "B=2"), " ") || p.User.UID != 1000 || p.Cwd != "/srv" {
		t.Errorf("exec process: env %v user %+v cwd %q", p.Env, p.User, p.Cwd)
	}

	// stdin, closed at the client's half-close.
	ex2, err := e.cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"cat"}, AttachStdin: true, AttachStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	att2, err := e.cl.ExecAttach(ctx, ex2.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	att2.Conn.Write([]byte("via exec\n"))
	att2.CloseWrite()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, io.Discard, att2.Reader)
	att2.Close()
	if out.String() != "via exec\n" {
		t.Errorf("exec cat output %q", out.String())
	}
	if ids := e.inspect(t, id).ExecIDs; len(ids) != 2 {
		t.Errorf("ExecIDs %v", ids)
	}
	if _, err := e.cl.ExecCreate(ctx, id, client.ExecCreateOptions{}); err == nil {
		t.Error("exec without a command accepted")
	}
}

func TestPauseTopStats(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}}, nil)
	e.startC(t, id)
	if _, err := e.cl.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	st := e.inspect(t, id).State
	if !st.Paused || st.Status != container.StatePaused || !st.Running {
		t.Errorf("paused state %+v", st)
	}
	list, err := e.cl.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil || len(list.Items) != 1 || !strings.HasSuffix(list.Items[0].Status, "(Paused)") {
		t.Errorf("ps of a paused container: %+v %v", list, err)
	}
	if _, err := e.cl.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err == nil {
		t.Error("second pause accepted")
	}
	if _, err := e.cl.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := e.inspect(t, id).State; st.Paused || st.Status != container.StateRunning {
		t.Errorf("unpaused state %+v", st)
	}

	top, err := e.cl.ContainerTop(ctx, id, client.ContainerTopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(top.Titles, " ") != "UID PID PPID C STIME TTY TIME CMD" {
		t.Errorf("top titles %v", top.Titles)
	}

	res, err := e.cl.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	err = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryStats.Usage != 4<<20 || s.PidsStats.Current != 3 || s.CPUStats.OnlineCPUs != 2 || s.Name == "" || s.MemoryStats.Limit == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRestartPolicyOnFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"fail", "1", "x"}}, &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}})
	e.startC(t, id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.inspect(t, id)
		if st.RestartCount == 2 && st.State.Status == container.StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart count %d, state %+v", st.RestartCount, st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It stays stopped.
	time.Sleep(500 * time.Millisecond)
	if st := e.inspect(t, id); st.RestartCount != 2 || st.State.Running {
		t.Errorf("after the retries: count %d state %+v", st.RestartCount, st.State)
	}
	if _, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}}); err == nil || !strings.Contains(err.Error(), "unknown policy") {
		t.Errorf("bad policy: %v", err)
	}
}

// always: an exit restarts it, a stop does not, and a new engine starts it
// again unless it was stopped by a user.
func TestRestartPolicyAlwaysAndStop(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}}, &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}})
	e.startC(t, id)
	// An exit not asked for: the fake's process dies of SIGTERM.
	if err := e.sup.KillTask(ctx, id, 15); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st := e.inspect(t, id); st.RestartCount != 1 || !st.State.Running; st = e.inspect(t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: count %d state %+v", st.RestartCount, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	timeout := 1
	if _, err := e.cl.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := e.inspect(t, id).State; st.Running || st.Restarting {
		t.Fatalf("restarted after stop: %+v", st)
	}
}

func TestEventsAndRuntime(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := e.cl.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", "container")})
	time.Sleep(100 * time.Millisecond) // the subscription is made by the request
	id := e.create(t, &container.Config{Cmd: []string{"fail", "4", "x"}}, nil)
	e.startC(t, id)
	e.sup.Publish(&supervisorv1.Envelope{Topic: "/tasks/oom", ContainerId: id})
	want := []events.Action{events.ActionCreate, events.ActionStart, events.ActionDie}
	var got []events.Action
	for len(got) < 4 {
		select {
		case m := <-ev.Messages:
			if m.Actor.ID != id {
				continue
			}
			got = append(got, m.Action)
			if m.Action == events.ActionDie && m.Actor.Attributes["exitCode"] != "4" {
				t.Errorf("die attributes %v", m.Actor.Attributes)
			}
		case err := <-ev.Err:
			t.Fatal(err)
		}
	}
	have := map[events.Action]bool{}
	for _, a := range got {
		have[a] = true
	}
	for _, a := range append(want, events.ActionOOM) {
		if !have[a] {
			t.Errorf("events %v: no %s", got, a)
		}
	}

	resp, body := e.do(t, http.MethodPost, "/containers/create", `{"Image":"busybox","HostConfig":{"Runtime":"nope"}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "unknown or invalid runtime name: nope") {
		t.Errorf("unknown runtime: %d %s", resp.StatusCode, body)
	}
}
