package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// watchedEngine is the fake engine recording every request it gets, the
// API version prefix taken off; take returns and forgets them.
func watchedEngine(t *testing.T) (host string, take func() []request) {
	var mu sync.Mutex
	var seen []request
	host = engineWrapped(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body []byte
			if r.ContentLength > 0 {
				body, _ = io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			mu.Lock()
			seen = append(seen, request{Method: r.Method, Path: versionPrefix.ReplaceAllString(r.URL.Path, ""), Query: r.URL.Query(), Body: body})
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	return host, func() []request {
		mu.Lock()
		defer mu.Unlock()
		r := seen
		seen = nil
		return r
	}
}

// find is the index of the first request to a container's op (attach,
// wait...) with method, -1 if none: after an inspect, ctl names the
// container by its id, as docker.
func find(reqs []request, method, op string) int {
	for i, r := range reqs {
		if r.Method == method && strings.HasPrefix(r.Path, "/containers/") && strings.HasSuffix(r.Path, "/"+op) {
			return i
		}
	}
	return -1
}

// start -a/-i attach (and wait) before the start, exit with the
// container's status, and pass stdin only with -i to a container that
// keeps it open.
func TestStartAttached(t *testing.T) {
	host, take := watchedEngine(t)
	for _, args := range [][]string{
		{"create", "--name", "fails", "busybox", "fail", "3", "to-stderr"},
		{"create", "--name", "in", "-i", "busybox", "cat"},
		{"create", "--name", "noin", "busybox", "echo", "no stdin"},
		{"create", "--name", "gone", "--rm", "busybox", "echo", "bye"},
	} {
		if _, errOut, code := ctl(t, host, args...); code != 0 {
			t.Fatalf("%q: %d %q", args, code, errOut)
		}
	}
	take()

	out, errOut, code := ctl(t, host, "start", "-a", "--detach-keys", "ctrl-x", "fails")
	reqs := take()
	if code != 3 || out != "" || errOut != "to-stderr\n" {
		t.Errorf("start -a: %d %q %q", code, out, errOut)
	}
	att, wait, start := find(reqs, "POST", "attach"), find(reqs, "POST", "wait"), find(reqs, "POST", "start")
	if att < 0 || wait < 0 || start < att || start < wait {
		t.Fatalf("start -a requests: %v", paths(reqs))
	}
	q := reqs[att].Query
	if q.Get("stdout") != "1" || q.Get("stderr") != "1" || q.Get("stdin") == "1" || q.Get("detachKeys") != "ctrl-x" {
		t.Errorf("start -a attach query: %v", q)
	}
	if c := reqs[wait].Query.Get("condition"); c != string(container.WaitConditionNextExit) {
		t.Errorf("start -a wait condition %q", c)
	}

	for _, args := range [][]string{{"start", "-ai", "in"}, {"container", "start", "-i", "in"}} {
		out, errOut, code := ctlIn(t, host, "from stdin\n", args...)
		reqs := take()
		if code != 0 || out != "from stdin\n" || errOut != "" {
			t.Errorf("%q: %d %q %q", args, code, out, errOut)
		}
		if i := find(reqs, "POST", "attach"); i < 0 || reqs[i].Query.Get("stdin") != "1" || reqs[i].Query.Get("stdout") != "1" {
			t.Errorf("%q requests: %v", args, reqs)
		}
	}

	// -i for a container made without it: stdout only, as docker.
	out, _, code = ctlIn(t, host, "ignored\n", "start", "-ai", "noin")
	reqs = take()
	if code != 0 || out != "no stdin\n" {
		t.Errorf("start -ai of a container without stdin: %d %q", code, out)
	}
	if i := find(reqs, "POST", "attach"); i < 0 || reqs[i].Query.Get("stdin") == "1" {
		t.Errorf("start -ai, no stdin, requests: %v", reqs)
	}

	// --rm: the wait is for the removal, so that the status is had after it.
	out, _, code = ctl(t, host, "start", "-a", "gone")
	reqs = take()
	if code != 0 || out != "bye\n" {
		t.Errorf("start -a of a --rm container: %d %q", code, out)
	}
	if i := find(reqs, "POST", "wait"); i < 0 || reqs[i].Query.Get("condition") != string(container.WaitConditionRemoved) {
		t.Errorf("start -a of a --rm container, requests: %v", reqs)
	}
}

// start -a forwards the signals ctl gets to a container without a tty.
func TestStartAttachedForwardsSignals(t *testing.T) {
	// Caught here too, so that a signal sent before ctl catches it does
	// not end the test binary.
	mine := make(chan os.Signal, 16)
	signal.Notify(mine, syscall.SIGUSR1)
	defer signal.Stop(mine)

	host, take := watchedEngine(t)
	if _, errOut, code := ctl(t, host, "create", "--name", "sleeper", "busybox", "sleep"); code != 0 {
		t.Fatal(errOut)
	}
	type result struct {
		code   int
		errOut string
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, code := ctl(t, host, "start", "-a", "sleeper")
		done <- result{code, errOut}
	}()
	var kills []request
	deadline := time.Now().Add(10 * time.Second)
	for len(kills) == 0 && time.Now().Before(deadline) {
		syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		time.Sleep(50 * time.Millisecond)
		for _, r := range take() {
			if r.Method == "POST" && strings.HasSuffix(r.Path, "/kill") {
				kills = append(kills, r)
			}
		}
	}
	if len(kills) == 0 || kills[0].Query.Get("signal") != "10" {
		t.Errorf("no SIGUSR1 forwarded: %v", kills)
	}
	// The fake's sleep ignores USR1; KILL ends it.
	if _, errOut, code := ctl(t, host, "kill", "sleeper"); code != 0 {
		t.Fatal(errOut)
	}
	select {
	case r := <-done:
		if r.code != 137 {
			t.Errorf("start -a of a killed container: %d %q", r.code, r.errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("start -a did not end with its container")
	}
}

func TestStartRefusals(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/ok/start":      reply(204, ""),
		"POST /containers/nosuch1/start": reply(404, `{"message":"No such container: nosuch1"}`),
		"POST /containers/nosuch2/start": reply(404, `{"message":"No such container: nosuch2"}`),
	})
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"start", "-a", "x", "y"}, "you cannot start and attach multiple containers at once\n"},
		{[]string{"container", "start", "-i", "x", "y"}, "you cannot start and attach multiple containers at once\n"},
		{[]string{"start", "--checkpoint", "cp1", "x"}, "\"--checkpoint\" is not supported: berth cannot checkpoint or restore containers\n"},
		{[]string{"start", "-a", "--checkpoint=", "x"}, "\"--checkpoint\" is not supported: berth cannot checkpoint or restore containers\n"},
		{[]string{"start", "--checkpoint-dir", "/d", "x", "y"}, "\"--checkpoint-dir\" is not supported: berth cannot checkpoint or restore containers\n"},
	} {
		out, errOut, code := rec.run(t, "", tc.args...)
		if code != 1 || out != "" || errOut != tc.err || len(rec.requests()) != 0 {
			t.Errorf("%q: %d %q %q", tc.args, code, out, errOut)
		}
	}
	out, errOut, code := rec.run(t, "", "start", "nosuch1", "ok", "nosuch2")
	if code != 1 || out != "ok\n" || errOut != "Error response from daemon: No such container: nosuch1\n"+
		"Error response from daemon: No such container: nosuch2\nError: failed to start containers: nosuch1, nosuch2\n" {
		t.Errorf("start with failures: %d %q %q", code, out, errOut)
	}
}

// exec --env-file: the files' lines (bare names from ctl's environment),
// then -e; --privileged is sent, and the engine's refusal shown.
func TestExecEnvFileAndPrivileged(t *testing.T) {
	host, take := watchedEngine(t)
	if _, errOut, code := ctl(t, host, "run", "-d", "--name", "bg", "busybox", "sleep"); code != 0 {
		t.Fatal(errOut)
	}
	dir := t.TempDir()
	envFile, bad := filepath.Join(dir, "env"), filepath.Join(dir, "bad")
	os.WriteFile(envFile, []byte("\ufeffA=1\n# comment\n\n  B=2\nFROM_HOST\nNOT_SET_ANYWHERE\nA=3\n"), 0o644)
	os.WriteFile(bad, []byte("bad key=1\n"), 0o644)
	t.Setenv("FROM_HOST", "h")
	t.Setenv("E2", "e2")
	take()

	out, errOut, code := ctl(t, host, "exec", "--env-file", envFile, "-e", "A=9", "-e", "E2", "-e", "UNSET_Q_X", "bg", "echo", "hi")
	reqs := take()
	if code != 0 || out != "hi\n" {
		t.Fatalf("exec --env-file: %d %q %q", code, out, errOut)
	}
	i := find(reqs, "POST", "exec")
	if i < 0 {
		t.Fatalf("exec requests: %v", paths(reqs))
	}
	var body container.ExecCreateRequest
	if err := json.Unmarshal(reqs[i].Body, &body); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "B=2", "FROM_HOST=h", "A=3", "A=9", "E2=e2", "UNSET_Q_X"}; !reflect.DeepEqual(body.Env, want) || body.Privileged {
		t.Errorf("exec body: %s, want Env %q", reqs[i].Body, want)
	}

	for file, want := range map[string]string{
		bad:                          "invalid env file (" + bad + "): variable 'bad key' contains whitespaces\n",
		filepath.Join(dir, "absent"): "open " + filepath.Join(dir, "absent") + ": no such file or directory\n",
	} {
		_, errOut, code := ctl(t, host, "exec", "--env-file", file, "bg", "echo")
		if reqs := take(); code != 1 || errOut != want || len(reqs) != 0 {
			t.Errorf("exec --env-file %s: %d %q %v", file, code, errOut, paths(reqs))
		}
	}

	_, errOut, code = ctl(t, host, "exec", "--privileged", "bg", "echo")
	reqs = take()
	if i = find(reqs, "POST", "exec"); i < 0 || json.Unmarshal(reqs[i].Body, &body) != nil || !body.Privileged {
		t.Fatalf("exec --privileged requests: %v", reqs)
	}
	if code != 1 || errOut != "Error response from daemon: privileged exec is not supported\n" {
		t.Errorf("exec --privileged: %d %q", code, errOut)
	}
}

// logs --details asks the engine for the details and prints its lines as
// they come.
func TestLogsDetails(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/l/json": reply(200, `{"Id":"l","Config":{"Tty":true}}`),
		"GET /containers/l/logs": reply(200, "a=b line\n"),
	})
	for _, details := range []bool{true, false} {
		args := []string{"logs", "l"}
		if details {
			args = []string{"container", "logs", "--details", "l"}
		}
		out, errOut, code := rec.run(t, "", args...)
		reqs := rec.requests()
		if code != 0 || out != "a=b line\n" || len(reqs) != 2 {
			t.Fatalf("%q: %d %q %q %v", args, code, out, errOut, paths(reqs))
		}
		if got := reqs[1].Query.Get("details") == "1"; got != details {
			t.Errorf("%q: details=%q", args, reqs[1].Query.Get("details"))
		}
	}
}
