package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

func testExec(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"sleep", "1000"}}, nil)
	e.Start(t, id)

	ex, err := e.Cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "echo oops >&2; exit 3"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.Cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	stdcopy.StdCopy(&stdout, &stderr, att.Reader)
	att.Close()
	if stdout.String() != "" || stderr.String() != "oops\n" {
		t.Errorf("exec stdout %q stderr %q", stdout.String(), stderr.String())
	}
	res, err := e.Cl.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Running || res.ExitCode != 3 || res.PID == 0 {
		t.Errorf("exec inspect: %+v", res)
	}

	// stdin, closed at the client's half-close.
	ex2, err := e.Cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"cat"}, AttachStdin: true, AttachStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	att2, err := e.Cl.ExecAttach(ctx, ex2.ID, client.ExecAttachOptions{})
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
	if ids := e.Inspect(t, id).ExecIDs; len(ids) != 2 {
		t.Errorf("ExecIDs %v", ids)
	}
	if _, err := e.Cl.ExecCreate(ctx, id, client.ExecCreateOptions{}); err == nil {
		t.Error("exec without a command accepted")
	}
}

func testPauseTopStats(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"sleep", "1000"}}, nil)
	e.Start(t, id)
	if _, err := e.Cl.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	st := e.Inspect(t, id).State
	if !st.Paused || st.Status != container.StatePaused || !st.Running {
		t.Errorf("paused state %+v", st)
	}
	list, err := e.Cl.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil || len(list.Items) != 1 || !strings.HasSuffix(list.Items[0].Status, "(Paused)") {
		t.Errorf("ps of a paused container: %+v %v", list, err)
	}
	if _, err := e.Cl.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err == nil {
		t.Error("second pause accepted")
	}
	if _, err := e.Cl.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := e.Inspect(t, id).State; st.Paused || st.Status != container.StateRunning {
		t.Errorf("unpaused state %+v", st)
	}

	top, err := e.Cl.ContainerTop(ctx, id, client.ContainerTopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(top.Titles, " ") != "UID PID PPID C STIME TTY TIME CMD" || len(top.Processes) != 1 ||
		top.Processes[0][7] != "sleep 1000" || top.Processes[0][1] != strconv.Itoa(e.Inspect(t, id).State.Pid) {
		t.Errorf("top: %v %q", top.Titles, top.Processes)
	}

	res, err := e.Cl.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	err = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryStats.Usage == 0 || s.PidsStats.Current == 0 || s.CPUStats.OnlineCPUs == 0 || s.CPUStats.SystemUsage == 0 ||
		s.Name != e.Inspect(t, id).Name || s.ID != id || s.MemoryStats.Limit == 0 {
		t.Errorf("stats %+v", s)
	}
}

func testRestartPolicyOnFailure(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"sh", "-c", "echo x >&2; exit 1"}},
		&container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}})
	e.Start(t, id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := e.Inspect(t, id)
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
	if st := e.Inspect(t, id); st.RestartCount != 2 || st.State.Running || st.State.ExitCode != 1 {
		t.Errorf("after the retries: count %d state %+v", st.RestartCount, st.State)
	}
	if _, err := e.Cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}}); err == nil || !strings.Contains(err.Error(), "unknown policy") {
		t.Errorf("bad policy: %v", err)
	}
}

// always: an exit not asked for restarts it, a stop does not.
func testRestartPolicyAlwaysAndStop(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"sleep", "1000"}}, &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}})
	e.Start(t, id)
	// An exit not asked for: killed below the engine.
	if err := e.Sup.KillTask(ctx, id, 9); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for st := e.Inspect(t, id); st.RestartCount != 1 || !st.State.Running; st = e.Inspect(t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: count %d state %+v", st.RestartCount, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	timeout := 1
	if _, err := e.Cl.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := e.Inspect(t, id).State; st.Running || st.Restarting {
		t.Fatalf("restarted after stop: %+v", st)
	}
}

func testEvents(t *testing.T, e *Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev := e.Cl.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", "container")})
	time.Sleep(100 * time.Millisecond) // the subscription is made by the request
	id := e.Create(t, &container.Config{Cmd: []string{"sh", "-c", "exit 4"}}, nil)
	e.Start(t, id)
	var got []events.Action
	for len(got) < 3 {
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
			t.Fatalf("events %v: %v", got, err)
		}
	}
	if want := []events.Action{events.ActionCreate, events.ActionStart, events.ActionDie}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}

	resp, body := e.Do(t, http.MethodPost, "/containers/create", `{"Image":"busybox","HostConfig":{"Runtime":"nope"}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "unknown or invalid runtime name: nope") {
		t.Errorf("unknown runtime: %d %s", resp.StatusCode, body)
	}
}
