package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

type env struct {
	sock string
	d    *containers.Daemon
	sup  *containerstest.Supervisor
	// full, when set, is the supervisor the daemon uses (a fake with
	// more of the API around sup).
	full containers.Supervisor
	opts []containers.Option
	root string
	http *http.Client
	cl   *client.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "be")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{sock: filepath.Join(dir, "e.sock"), sup: containerstest.New(), root: filepath.Join(dir, "data")}
	e.start(t)
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	var sup containers.Supervisor = e.sup
	if e.full != nil {
		sup = e.full
	}
	d, err := containers.New(context.Background(), sup, e.root, nil, e.opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(d, Config{Version: "test", DataRoot: e.root})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); d.Close() })
	e.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}
	e.cl, err = client.New(client.WithHost("unix://"+e.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cl.Close() })
}

func (e *env) do(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://engine"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPingAndHeaders(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"GET", "HEAD"} {
		resp, body := e.do(t, m, "/_ping", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s /_ping: %d", m, resp.StatusCode)
		}
		if m == "GET" && body != "OK" {
			t.Errorf("body %q", body)
		}
		want := map[string]string{
			"Api-Version": DefaultVersion, "Docker-Experimental": "false", "Ostype": "linux",
			"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
			"Server": "Berth/test (linux)",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", m, k, got, v)
			}
		}
	}
}

func TestVersionNegotiation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/v1.51/version", 200, `"ApiVersion":"1.51"`},
		{"/v1.24/version", 200, `"MinAPIVersion":"1.24"`},
		{"/version", 200, `"Os":"linux"`},
		{"/v1.99/version", 400, `client version 1.99 is too new. Maximum supported API version is 1.51`},
		{"/v1.12/version", 400, `client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version`},
		{"/v1.50/nosuch", 404, `page not found`},
	}
	for _, c := range cases {
		resp, body := e.do(t, "GET", c.path, "")
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d %s", c.path, resp.StatusCode, body, c.status, c.msg)
		}
		if resp.Header.Get("Api-Version") == "" {
			t.Errorf("%s: no Api-Version header", c.path)
		}
	}
	v, err := e.cl.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil || v.APIVersion != DefaultVersion {
		t.Fatalf("client version: %v %+v", err, v)
	}
}

func TestStatusOf(t *testing.T) {
	cases := map[error]int{
		errdefs.ErrNotFound:                                 404,
		errdefs.ErrInvalidArgument:                          400,
		errdefs.ErrAlreadyExists:                            409,
		errdefs.ErrConflict:                                 409,
		errdefs.ErrFailedPrecondition:                       409,
		errdefs.ErrNotImplemented:                           501,
		fmt.Errorf("login: %w", errdefs.ErrUnauthenticated): 401,
		errdefs.ErrPermissionDenied:                         403,
		cerrdefs.ErrUnauthenticated:                         401,
		errors.New("boom"):                                  500,
		badRequest("x"):                                     400,
		errors.Join(errors.New("ctx"), errdefs.ErrNotFound): 404,
	}
	for err, want := range cases {
		if got := StatusOf(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, "POST", "/v1.50/containers/create", `{"Image":"nosuch"}`)
	if resp.StatusCode != 404 || strings.TrimSpace(body) != `{"message":"No such image: nosuch:latest"}` {
		t.Errorf("unknown image: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/containers/create", `{"Image": "busybox", "Cmd": [`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"message"`) {
		t.Errorf("bad JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/containers/create?name=web", `{"Image":"busybox","Cmd":["echo","hi"]}`)
	if resp.StatusCode != 201 || !strings.Contains(body, `"Id"`) {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/containers/create?name=web", `{"Image":"busybox","Cmd":["echo","hi"]}`)
	if resp.StatusCode != 409 || !strings.Contains(body, `Conflict. The container name \"/web\" is already in use by container`) {
		t.Errorf("conflict: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/containers/create?name=bad%20name", `{"Image":"busybox"}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "Invalid container name") {
		t.Errorf("bad name: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/containers/nosuch/json", "")
	if resp.StatusCode != 404 || strings.TrimSpace(body) != `{"message":"No such container: nosuch"}` {
		t.Errorf("inspect unknown: %d %s", resp.StatusCode, body)
	}
	// Failed creates leave nothing behind.
	if n := len(e.d.List(true, 0)); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
}

// run does what `docker run` does: create, attach, wait, start.
func run(t *testing.T, e *env, rm bool, cmd ...string) (id, stdout, stderr string, code int64) {
	t.Helper()
	ctx := context.Background()
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: "busybox", Cmd: cmd, AttachStdout: true, AttachStderr: true},
		HostConfig: &container.HostConfig{AutoRemove: rm},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ContainerAttach(ctx, res.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	cond := container.WaitConditionNextExit
	if rm {
		cond = container.WaitConditionRemoved
	}
	w := e.cl.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: cond})
	var o, eb bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&o, &eb, att.Reader); copied <- err }()
	if _, err := e.cl.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.Result:
		code = r.StatusCode
	case err := <-w.Error:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("wait timed out")
	}
	select {
	case err := <-copied:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach stream did not end")
	}
	return res.ID, o.String(), eb.String(), code
}

func TestRunAttachWait(t *testing.T) {
	e := newEnv(t)
	id, out, errOut, code := run(t, e, false, "echo", "hello", "world")
	if out != "hello world\n" || errOut != "" || code != 0 {
		t.Errorf("echo: %q %q %d", out, errOut, code)
	}
	ins, err := e.cl.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := ins.Container
	if c.State.Status != container.StateExited || c.State.ExitCode != 0 || c.State.Running || !strings.HasPrefix(c.Name, "/") || c.Config.Hostname != id[:12] {
		t.Errorf("inspect: %+v %+v", c.State, c)
	}
	_, out, errOut, code = run(t, e, false, "fail", "3", "oops")
	if out != "" || errOut != "oops\n" || code != 3 {
		t.Errorf("fail: %q %q %d", out, errOut, code)
	}
	// Logs read the json-file the shim wrote, demultiplexed.
	rc, err := e.cl.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	var o, eb bytes.Buffer
	stdcopy.StdCopy(&o, &eb, rc)
	rc.Close()
	if !strings.HasSuffix(o.String(), "Z hello world\n") {
		t.Errorf("logs %q", o.String())
	}
	list, err := e.cl.ContainerList(context.Background(), client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 2 || !strings.HasPrefix(list.Items[0].Status, "Exited (3)") {
		t.Errorf("list: %v %+v", err, list.Items)
	}
}

func TestAutoRemove(t *testing.T) {
	e := newEnv(t)
	id, out, _, code := run(t, e, true, "fail", "7", "bye")
	if code != 7 || out != "" {
		t.Errorf("code %d out %q", code, out)
	}
	resp, body := e.do(t, "GET", "/containers/"+id+"/json", "")
	if resp.StatusCode != 404 {
		t.Errorf("after --rm: %d %s", resp.StatusCode, body)
	}
	// The supervisor's side goes in the background, after the exit.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, tk, sn := e.sup.Left()
		if c == 0 && tk == 0 && sn == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisor leftovers: %d containers, %d tasks, %d snapshots", c, tk, sn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) != 0 {
		t.Errorf("engine dirs left: %v", ents)
	}
}

func TestRemoveRunningAndRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "sleeper", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "DELETE", "/containers/sleeper", "")
	if resp.StatusCode != 409 || !strings.Contains(body, `cannot remove container \"/sleeper\": container is running: stop the container before removing or force remove`) {
		t.Errorf("rm running: %d %s", resp.StatusCode, body)
	}

	// A new engine over the same state finds the container running.
	e.d.Close()
	d2, err := containers.New(ctx, e.sup, e.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	c, err := d2.Inspect(ctx, "sleeper")
	if err != nil || !c.State.Running || c.State.Pid != 4242 {
		t.Fatalf("after restart: %v %+v", err, c.State)
	}
	if err := d2.Remove(ctx, "sleeper", true); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Get("sleeper"); !errdefs.IsNotFound(err) {
		t.Errorf("still there: %v", err)
	}
	if len(e.sup.Containers) != 0 || len(e.sup.Tasks) != 0 {
		t.Errorf("supervisor leftovers: %v %v", e.sup.Containers, e.sup.Tasks)
	}
}

func TestKillStopWait(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ContainerKill(ctx, res.ID, client.ContainerKillOptions{Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	w := e.cl.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{})
	select {
	case r := <-w.Result:
		if r.StatusCode != 143 {
			t.Errorf("exit %d, want 143", r.StatusCode)
		}
	case err := <-w.Error:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("timeout")
	}
	resp, _ := e.do(t, "POST", "/containers/"+res.ID+"/kill?signal=NOPE", "")
	if resp.StatusCode != 400 {
		t.Errorf("bad signal: %d", resp.StatusCode)
	}
}

func TestImagesAndInfo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lr, err := e.cl.ImageLoad(ctx, strings.NewReader("IMAGES\nalpine:3\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(lr)
	lr.Close()
	if string(b) != "{\"stream\":\"Loaded image: alpine:3\\n\"}\n" {
		t.Errorf("load: %q", b)
	}
	resp, body := e.do(t, "POST", "/images/load", "not a tar")
	if resp.StatusCode != 400 || !strings.Contains(body, "message") {
		t.Errorf("bad archive: %d %s", resp.StatusCode, body)
	}
	imgs, err := e.cl.ImageList(ctx, client.ImageListOptions{})
	if err != nil || len(imgs.Items) != 2 {
		t.Fatalf("images: %v %+v", err, imgs)
	}
	info, err := e.cl.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := info.Info
	if i.Images != 2 || i.OSType != "linux" || i.DefaultRuntime != "berth" || i.Runtimes["berth"].Path == "" || i.CgroupDriver != "cgroupfs" || i.NCPU == 0 {
		t.Errorf("info: %+v", i)
	}
}

func TestListFilters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mk := func(name string, labels map[string]string, cmd ...string) string {
		res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: &container.Config{Image: "busybox", Cmd: cmd, Labels: labels}})
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	run := mk("runner", map[string]string{"app": "web"}, "sleep")
	mk("made", map[string]string{"app": "db"}, "echo")
	if _, err := e.cl.ContainerStart(ctx, run, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	names := func(f client.Filters, all bool) string {
		res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: f})
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
		{client.Filters{}.Add("label", "app=db"), true, "/made"},
		{client.Filters{}.Add("label", "app"), true, "/made,/runner"},
		{client.Filters{}.Add("name", "^run"), true, "/runner"},
		{client.Filters{}.Add("id", run[:6]), true, "/runner"},
		{client.Filters{}.Add("ancestor", "busybox"), true, "/made,/runner"},
	}
	for _, c := range cases {
		if got := names(c.f, c.all); got != c.want {
			t.Errorf("%v: %q, want %q", c.f, got, c.want)
		}
	}
	resp, body := e.do(t, "GET", `/containers/json?filters={"bogus":{"x":true}}`, "")
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid filter 'bogus'") {
		t.Errorf("bad filter: %d %s", resp.StatusCode, body)
	}
}

func TestImageInspectAndRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ins, err := e.cl.ImageInspect(ctx, "busybox")
	if err != nil || ins.ID != "sha256:"+strings.Repeat("b", 64) || len(ins.RepoTags) != 1 || ins.Config == nil {
		t.Fatalf("inspect: %v %+v", err, ins)
	}
	if _, err := e.cl.ImageInspect(ctx, "nosuch"); err == nil || !strings.Contains(err.Error(), "No such image: nosuch:latest") {
		t.Errorf("inspect unknown: %v", err)
	}
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{}); err == nil || !strings.Contains(err.Error(), "container "+res.ID[:12]+" is using its referenced image") {
		t.Errorf("rmi of a used image: %v", err)
	}
	if _, err := e.cl.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := e.cl.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{})
	if err != nil || len(out.Items) != 2 || out.Items[0].Untagged != "busybox:latest" || out.Items[1].Deleted == "" {
		t.Errorf("rmi: %v %+v", err, out)
	}
	if len(e.sup.Images) != 0 {
		t.Errorf("images left: %v", e.sup.Images)
	}
}

// attach answers 101 UPGRADED with the multiplexed media type when asked to
// upgrade, 200 otherwise, and streams the frames on the hijacked connection.
func TestAttachHijack(t *testing.T) {
	e := newEnv(t)
	for _, upgrade := range []bool{true, false} {
		res, err := e.cl.ContainerCreate(context.Background(), client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"echo", "framed"}}})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("unix", e.sock)
		if err != nil {
			t.Fatal(err)
		}
		hdr := ""
		if upgrade {
			hdr = "Connection: Upgrade\r\nUpgrade: tcp\r\n"
		}
		fmt.Fprintf(conn, "POST /v1.50/containers/%s/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n", res.ID, hdr)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 200
		if upgrade {
			want = 101
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
			t.Errorf("upgrade=%v: %s %v", upgrade, resp.Status, resp.Header)
		}
		if _, err := e.cl.ContainerStart(context.Background(), res.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var o, eb bytes.Buffer
		if _, err := stdcopy.StdCopy(&o, &eb, br); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if o.String() != "framed\n" {
			t.Errorf("upgrade=%v: stdout %q", upgrade, o.String())
		}
	}
}

// A tty container has one raw stream, on attach and in logs.
func TestTTYRawStream(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"echo", "raw"}, Tty: true}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ContainerAttach(ctx, res.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if mt, _ := att.MediaType(); mt != "application/vnd.docker.raw-stream" {
		t.Errorf("media type %q", mt)
	}
	if _, err := e.cl.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(att.Reader)
	if string(b) != "raw\n" {
		t.Errorf("attach %q", b)
	}
	e.cl.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{})
	rc, err := e.cl.ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rc)
	rc.Close()
	if string(b) != "raw\n" {
		t.Errorf("logs %q", b)
	}
	if ins, _ := e.cl.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{}); !ins.Container.Config.Tty {
		t.Error("Tty not kept")
	}
}
