package integration

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine"
	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/api/apitest/apiclient"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/test/image"
)

// engEnv is an in-process engine on an in-process supervisor, driven with
// the official Docker Go client.
type engEnv struct {
	sv   *svEnv
	root string
	sock string
	d    *containers.Daemon
	srv  *http.Server
	sup  *client.Client
	cl   *mobyclient.Client
}

func newEngEnv(t *testing.T) *engEnv {
	t.Helper()
	sv := newSvEnv(t, true)
	e := &engEnv{sv: sv, root: filepath.Join(sv.dir, "eng"), sock: filepath.Join(sv.dir, "e.sock")}
	e.start(t)
	t.Cleanup(func() {
		// Remove what the test left, through the engine.
		for _, c := range e.d.List(true, 0) {
			_ = e.d.Remove(context.Background(), c.ID, true)
		}
		e.stop()
	})
	return e
}

func (e *engEnv) start(t *testing.T) {
	t.Helper()
	sup, err := client.New(e.sv.cfg.Address, client.WithNamespace(engine.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d, err := containers.New(context.Background(), &containers.Remote{C: sup}, e.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := engine.Listen(e.sock, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.sup, e.d = sup, d
	e.srv = &http.Server{Handler: api.New(d, api.Config{Version: "test", DataRoot: e.root})}
	go e.srv.Serve(l)
	e.cl, err = mobyclient.New(mobyclient.WithHost("unix://"+e.sock), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
}

// stop stops the engine only: containers keep running.
func (e *engEnv) stop() {
	if e.srv == nil {
		return
	}
	e.cl.Close()
	e.srv.Close()
	e.d.Close()
	e.sup.Close()
	e.srv = nil
}

func (e *engEnv) load(t *testing.T) {
	t.Helper()
	tar := filepath.Join(e.sv.dir, "busybox.tar")
	if err := image.WriteDockerArchive(tar, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := e.cl.ImageLoad(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(res)
	res.Close()
	if !strings.Contains(out.String(), "Loaded image: busybox:latest") {
		t.Fatalf("load: %s", out.String())
	}
}

// run does what `docker run [--rm]` does.
func (e *engEnv) run(t *testing.T, rm bool, cmd ...string) (id, stdout, stderr string, code int64) {
	t.Helper()
	return (&apiclient.C{Sock: e.sock, Cl: e.cl}).Run(t, rm, cmd...)
}

func TestEngineRunStreamsExitCodeAndLogs(t *testing.T) {
	e := newEngEnv(t)
	e.load(t)
	id, out, errOut, code := e.run(t, false, "sh", "-c", `echo "host=$(hostname) pid=$$"; echo to-stderr >&2; exit 3`)
	if code != 3 || out != "host="+id[:12]+" pid=1\n" || errOut != "to-stderr\n" {
		t.Errorf("run: code %d stdout %q stderr %q", code, out, errOut)
	}
	ctx := context.Background()
	rc, err := e.cl.ContainerLogs(ctx, id, mobyclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var lo, le bytes.Buffer
	stdcopy.StdCopy(&lo, &le, rc)
	rc.Close()
	if lo.String() != out || le.String() != errOut {
		t.Errorf("logs %q %q", lo.String(), le.String())
	}
	ins, err := e.cl.ContainerInspect(ctx, id, mobyclient.ContainerInspectOptions{})
	if err != nil || ins.Container.State.Status != container.StateExited || ins.Container.State.ExitCode != 3 {
		t.Errorf("inspect: %v %+v", err, ins.Container.State)
	}
	if _, err := e.cl.ContainerRemove(ctx, id, mobyclient.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(svMountsUnder(e.sv.dir)); n != 0 {
		t.Errorf("%d mounts left after rm", n)
	}
}

func TestEngineAutoRemove(t *testing.T) {
	e := newEngEnv(t)
	e.load(t)
	id, out, _, code := e.run(t, true, "echo", "bye")
	if code != 0 || out != "bye\n" {
		t.Errorf("run --rm: %d %q", code, out)
	}
	if _, err := e.cl.ContainerInspect(context.Background(), id, mobyclient.ContainerInspectOptions{}); err == nil {
		t.Error("container still there after --rm")
	}
	if _, err := e.sup.GetImage(context.Background(), "docker.io/library/busybox:latest"); err != nil {
		t.Errorf("image: %v", err)
	}
}

// The engine restarts; the running container survives and is watched again.
func TestEngineRestartKeepsContainer(t *testing.T) {
	e := newEngEnv(t)
	e.load(t)
	ctx := context.Background()
	res, err := e.cl.ContainerCreate(ctx, mobyclient.ContainerCreateOptions{Name: "sleeper", Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "1000"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ContainerStart(ctx, res.ID, mobyclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.start(t)
	ins, err := e.cl.ContainerInspect(ctx, "sleeper", mobyclient.ContainerInspectOptions{})
	if err != nil || !ins.Container.State.Running || ins.Container.State.Pid == 0 {
		t.Fatalf("after restart: %v %+v", err, ins.Container.State)
	}
	if _, err := e.cl.ContainerKill(ctx, "sleeper", mobyclient.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	w := e.cl.ContainerWait(ctx, "sleeper", mobyclient.ContainerWaitOptions{})
	select {
	case r := <-w.Result:
		if r.StatusCode != 137 {
			t.Errorf("exit %d, want 137", r.StatusCode)
		}
	case err := <-w.Error:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("no exit seen after restart")
	}
}
