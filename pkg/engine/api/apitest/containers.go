package apitest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
)

func testCreateErrors(t *testing.T, e *Env) {
	resp, body := e.Do(t, "POST", "/v1.50/containers/create", `{"Image":"nosuch"}`)
	if resp.StatusCode != 404 || strings.TrimSpace(body) != `{"message":"No such image: nosuch:latest"}` {
		t.Errorf("unknown image: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, "POST", "/containers/create", `{"Image": "busybox", "Cmd": [`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"message"`) {
		t.Errorf("bad JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, "POST", "/containers/create?name=web", `{"Image":"busybox","Cmd":["echo","hi"]}`)
	if resp.StatusCode != 201 || !strings.Contains(body, `"Id"`) {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, "POST", "/containers/create?name=web", `{"Image":"busybox","Cmd":["echo","hi"]}`)
	if resp.StatusCode != 409 || !strings.Contains(body, `Conflict. The container name \"/web\" is already in use by container`) {
		t.Errorf("conflict: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, "POST", "/containers/create?name=bad%20name", `{"Image":"busybox"}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "Invalid container name") {
		t.Errorf("bad name: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, "GET", "/containers/nosuch/json", "")
	if resp.StatusCode != 404 || strings.TrimSpace(body) != `{"message":"No such container: nosuch"}` {
		t.Errorf("inspect unknown: %d %s", resp.StatusCode, body)
	}
	// Failed creates leave nothing behind, in the engine or below it.
	if n := len(e.D.List(true, 0)); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
	if ids, err := e.Sup.ListContainers(context.Background()); err != nil || len(ids) != 1 {
		t.Errorf("supervisor containers: %v %v", ids, err)
	}
}

func testRunAttachWait(t *testing.T, e *Env) {
	ctx := context.Background()
	id, out, errOut, code := e.Run(t, false, "echo", "hello", "world")
	if out != "hello world\n" || errOut != "" || code != 0 {
		t.Errorf("echo: %q %q %d", out, errOut, code)
	}
	c := e.Inspect(t, id)
	if c.State.Status != container.StateExited || c.State.ExitCode != 0 || c.State.Running || !strings.HasPrefix(c.Name, "/") || c.Config.Hostname != id[:12] {
		t.Errorf("inspect: %+v %+v", c.State, c)
	}
	_, out, errOut, code = e.Run(t, false, "sh", "-c", "echo oops >&2; exit 3")
	if out != "" || errOut != "oops\n" || code != 3 {
		t.Errorf("sh: %q %q %d", out, errOut, code)
	}
	// Logs read the json-file the shim wrote, demultiplexed.
	rc, err := e.Cl.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	var o, eb bytes.Buffer
	stdcopy.StdCopy(&o, &eb, rc)
	rc.Close()
	if !strings.HasSuffix(o.String(), "Z hello world\n") || eb.Len() != 0 {
		t.Errorf("logs %q %q", o.String(), eb.String())
	}
	list, err := e.Cl.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 2 || !strings.HasPrefix(list.Items[0].Status, "Exited (3)") {
		t.Errorf("list: %v %+v", err, list.Items)
	}
}

// left tells what the supervisor still holds of a container: its record,
// its task, its snapshot.
func left(ctx context.Context, sup containers.Supervisor, id string) []string {
	var out []string
	ids, err := sup.ListContainers(ctx)
	if err != nil {
		return []string{"list: " + err.Error()}
	}
	for _, c := range ids {
		if c == id {
			out = append(out, "container")
		}
	}
	if _, err := sup.GetTask(ctx, id); !errdefs.IsNotFound(err) {
		out = append(out, "task")
	}
	if m, ok := sup.(containers.SnapshotMounter); ok {
		if _, err := m.SnapshotMounts(ctx, id); !errdefs.IsNotFound(err) {
			out = append(out, "snapshot")
		}
	}
	return out
}

// waitNothingLeft waits for the supervisor to hold nothing of id.
func waitNothingLeft(t *testing.T, e *Env, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := left(context.Background(), e.Sup, id)
		if len(l) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisor leftovers of %s: %v", id, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testAutoRemove(t *testing.T, e *Env) {
	id, out, errOut, code := e.Run(t, true, "sh", "-c", "echo bye >&2; exit 7")
	if code != 7 || out != "" || errOut != "bye\n" {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
	resp, body := e.Do(t, "GET", "/containers/"+id+"/json", "")
	if resp.StatusCode != 404 {
		t.Errorf("after --rm: %d %s", resp.StatusCode, body)
	}
	// The supervisor's side goes in the background, after the exit.
	waitNothingLeft(t, e, id)
	if l := e.D.List(true, 0); len(l) != 0 {
		t.Errorf("engine containers left: %v", l)
	}
}

func testRemoveRunningAndRestart(t *testing.T, e *Env) {
	ctx := context.Background()
	res, err := e.Cl.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "sleeper", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "1000"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t, res.ID)
	pid := e.Inspect(t, res.ID).State.Pid
	if pid <= 0 {
		t.Fatalf("pid %d", pid)
	}
	resp, body := e.Do(t, "DELETE", "/containers/sleeper", "")
	if resp.StatusCode != 409 || !strings.Contains(body, `cannot remove container \"/sleeper\": container is running: stop the container before removing or force remove`) {
		t.Errorf("rm running: %d %s", resp.StatusCode, body)
	}

	// A new engine over the same state finds the container running.
	e.D.Close()
	d2, err := containers.New(ctx, e.Sup, e.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.D = d2
	c, err := d2.Inspect(ctx, "sleeper")
	if err != nil || !c.State.Running || c.State.Pid != pid {
		t.Fatalf("after restart: %v %+v, pid was %d", err, c.State, pid)
	}
	if err := d2.Remove(ctx, "sleeper", true); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Get("sleeper"); !errdefs.IsNotFound(err) {
		t.Errorf("still there: %v", err)
	}
	if l := left(ctx, e.Sup, res.ID); len(l) != 0 {
		t.Errorf("supervisor leftovers: %v", l)
	}
}

// A TERM does not end a container's init that has no handler for it (the
// kernel protects a pid namespace's init); stop's KILL after the timeout
// does.
func testKillStopWait(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"sleep", "1000"}}, nil)
	e.Start(t, id)
	if _, err := e.Cl.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := e.Inspect(t, id).State; !st.Running {
		t.Fatalf("init without a handler died of TERM: %+v", st)
	}
	w := e.Cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	timeout := 1
	if _, err := e.Cl.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.Result:
		if r.StatusCode != 137 {
			t.Errorf("exit %d, want 137", r.StatusCode)
		}
	case err := <-w.Error:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("timeout")
	}
	if st := e.Inspect(t, id).State; st.Running || st.ExitCode != 137 {
		t.Errorf("after stop: %+v", st)
	}
	resp, _ := e.Do(t, "POST", "/containers/"+id+"/kill?signal=NOPE", "")
	if resp.StatusCode != 400 {
		t.Errorf("bad signal: %d", resp.StatusCode)
	}
	resp, body := e.Do(t, "POST", "/containers/"+id+"/kill", "")
	if resp.StatusCode != 409 || !strings.Contains(body, "is not running") {
		t.Errorf("kill of a stopped container: %d %s", resp.StatusCode, body)
	}
}

func testListFilters(t *testing.T, e *Env) {
	ctx := context.Background()
	mk := func(name string, labels map[string]string, cmd ...string) string {
		res, err := e.Cl.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: cmd, Labels: labels}})
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	runner := mk("runner", map[string]string{"app": "web"}, "sleep", "1000")
	mk("made", map[string]string{"app": "db"}, "echo")
	e.Start(t, runner)
	names := func(f client.Filters, all bool) string {
		res, err := e.Cl.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, s := range res.Items {
			n = append(n, s.Names[0])
		}
		return strings.Join(n, ",")
	}
	cases := []struct {
		f    client.Filters
		all  bool
		want string
	}{
		{client.Filters{}, false, "/runner"},
		{client.Filters{}.Add("status", "created"), false, "/made"},
		{client.Filters{}.Add("status", "running"), true, "/runner"},
		{client.Filters{}.Add("label", "app=db"), true, "/made"},
		{client.Filters{}.Add("label", "app"), true, "/made,/runner"},
		{client.Filters{}.Add("name", "^run"), true, "/runner"},
		{client.Filters{}.Add("id", runner[:6]), true, "/runner"},
		{client.Filters{}.Add("ancestor", "busybox"), true, "/made,/runner"},
	}
	for _, c := range cases {
		if got := names(c.f, c.all); got != c.want {
			t.Errorf("%v: %q, want %q", c.f, got, c.want)
		}
	}
	resp, body := e.Do(t, "GET", `/containers/json?filters={"bogus":{"x":true}}`, "")
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid filter 'bogus'") {
		t.Errorf("bad filter: %d %s", resp.StatusCode, body)
	}
}
