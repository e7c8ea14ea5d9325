package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
)

// engine serves the Engine API over a fake supervisor on a unix socket.
func engine(t *testing.T) string {
	t.Helper()
	return engineWrapped(t, func(h http.Handler) http.Handler { return h })
}

// engineWrapped is engine with its API handler wrapped, to watch or delay
// the requests.
func engineWrapped(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := containers.New(context.Background(), containerstest.New(), filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "e.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: wrap(api.New(d, api.Config{Version: "test"}))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); d.Close() })
	return "unix://" + sock
}

func ctl(t *testing.T, host string, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	c := &CLI{Out: &o, Err: &e, In: strings.NewReader("")}
	root := NewRootCommand(c)
	root.SetArgs(append([]string{"-H", host}, args...))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(c, err)
	}
	return o.String(), e.String(), code
}

func TestRunPsLogsRm(t *testing.T) {
	host := engine(t)
	out, errOut, code := ctl(t, host, "run", "--rm", "busybox", "fail", "3", "to-stderr")
	if code != 3 || out != "" || errOut != "to-stderr\n" {
		t.Errorf("run fail: %d %q %q", code, out, errOut)
	}
	out, errOut, code = ctl(t, host, "run", "--name", "envy", "-e", "A=b", "busybox", "echo", "hi", "there")
	if code != 0 || out != "hi there\n" {
		t.Errorf("run echo: %d %q %q", code, out, errOut)
	}
	if out, _, _ := ctl(t, host, "logs", "envy"); out != "hi there\n" {
		t.Errorf("logs %q", out)
	}
	out, _, _ = ctl(t, host, "ps", "-a")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID   IMAGE") || !strings.Contains(lines[1], "Exited (0)") || !strings.HasSuffix(lines[1], "envy") {
		t.Errorf("ps -a:\n%s", out)
	}
	if out, _, _ := ctl(t, host, "ps"); strings.Count(out, "\n") != 1 {
		t.Errorf("ps lists stopped containers:\n%s", out)
	}
	if out, _, code := ctl(t, host, "rm", "envy"); code != 0 || out != "envy\n" {
		t.Errorf("rm: %d %q", code, out)
	}
	if out, _, _ := ctl(t, host, "ps", "-aq"); out != "" {
		t.Errorf("ps -aq after rm: %q", out)
	}
}

func TestDetachedAndErrors(t *testing.T) {
	host := engine(t)
	out, _, code := ctl(t, host, "run", "-d", "--name", "sleeper", "busybox", "sleep")
	if code != 0 || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("run -d: %d %q", code, out)
	}
	_, errOut, code := ctl(t, host, "rm", "sleeper")
	if code != 1 || !strings.Contains(errOut, "Error response from daemon: cannot remove container") {
		t.Errorf("rm running: %d %q", code, errOut)
	}
	if _, _, code := ctl(t, host, "rm", "-f", "sleeper"); code != 0 {
		t.Errorf("rm -f: %d", code)
	}
	_, errOut, code = ctl(t, host, "run", "--rm", "--pull", "never", "nosuchimage")
	if code != 125 || !strings.Contains(errOut, "No such image: nosuchimage:latest") {
		t.Errorf("unknown image: %d %q", code, errOut)
	}
	// --pull=missing (the default) pulls after the "no such image".
	_, errOut, code = ctl(t, host, "run", "--rm", "nosuchimage")
	if code != 125 || !strings.HasPrefix(errOut, "Unable to find image 'nosuchimage:latest' locally\n") {
		t.Errorf("unknown image, pull: %d %q", code, errOut)
	}
	_, errOut, code = ctl(t, host, "logs", "nosuch")
	if code != 1 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Errorf("logs unknown: %d %q", code, errOut)
	}
	out, _, code = ctl(t, host, "images")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "busybox") {
		t.Errorf("images: %d\n%s", code, out)
	}
	for _, cmd := range []string{"version", "info"} {
		if out, errOut, code := ctl(t, host, cmd); code != 0 || out == "" {
			t.Errorf("%s: %d %q %q", cmd, code, out, errOut)
		}
	}
}

func TestFiltersAndRmi(t *testing.T) {
	host := engine(t)
	ctl(t, host, "create", "--name", "one", "busybox", "echo")
	ctl(t, host, "run", "-d", "--name", "two", "busybox", "sleep")
	out, _, code := ctl(t, host, "ps", "-a", "-f", "status=created")
	if code != 0 || !strings.Contains(out, "one") || strings.Contains(out, "two") {
		t.Errorf("ps -f status=created: %d\n%s", code, out)
	}
	_, errOut, code := ctl(t, host, "rmi", "busybox")
	if code != 1 || !strings.Contains(errOut, "is using its referenced image") {
		t.Errorf("rmi used image: %d %q", code, errOut)
	}
	ctl(t, host, "rm", "-f", "one", "two")
	out, _, code = ctl(t, host, "rmi", "busybox")
	if code != 0 || !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: sha256:") {
		t.Errorf("rmi: %d %q", code, out)
	}
}

func TestStopRestartWait(t *testing.T) {
	host := engine(t)
	ctl(t, host, "run", "-d", "--name", "sx", "busybox", "sleep")
	// sleep, the container's init, has no handler for stop's TERM: the
	// kernel does not deliver it, the KILL after the timeout ends it.
	if out, errOut, code := ctl(t, host, "stop", "-t", "1", "sx"); code != 0 || out != "sx\n" {
		t.Fatalf("stop: %d %q %q", code, out, errOut)
	}
	if out, _, _ := ctl(t, host, "wait", "sx"); out != "137\n" {
		t.Errorf("wait after stop: %q", out)
	}
	if _, errOut, code := ctl(t, host, "restart", "sx"); code != 0 {
		t.Fatalf("restart: %d %q", code, errOut)
	}
	if out, _, _ := ctl(t, host, "ps", "-q"); strings.TrimSpace(out) == "" {
		t.Error("not running after restart")
	}
	if _, errOut, code := ctl(t, host, "kill", "-s", "KILL", "sx"); code != 0 {
		t.Fatalf("kill: %d %q", code, errOut)
	}
	if out, _, _ := ctl(t, host, "wait", "sx"); out != "137\n" {
		t.Errorf("wait after kill: %q", out)
	}
	if out, _, _ := ctl(t, host, "inspect", "sx"); !strings.Contains(out, `"ExitCode": 137`) {
		t.Errorf("inspect:\n%s", out)
	}
}

func TestStartErrorCodes(t *testing.T) {
	for msg, want := range map[string]int{
		`runtime create: container init: exec: "/x": stat /x: no such file or directory`: 127,
		`exec: "x": executable file not found in $PATH`:                                  127,
		`exec: "/etc": permission denied`:                                                126,
		`something else`:                                                                 125,
	} {
		var se *StatusError
		if err := startError(newRunCommand(&CLI{}), errors.New(msg)); !errors.As(err, &se) || se.Code != want {
			t.Errorf("%q: %v, want %d", msg, err, want)
		}
	}
}
