package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// request is one request the fake engine received.
type request struct {
	Method, Path string
	Query        url.Values
	Body         []byte
}

func (r request) String() string { return r.Method + " " + r.Path }

// recorder is an Engine API server that records the requests and answers
// them with the handler given for "METHOD /path" (the API version prefix
// taken off); anything else is a 500, so that a test sees stray calls.
type recorder struct {
	mu     sync.Mutex
	reqs   []request
	routes map[string]func(w http.ResponseWriter, r request)
	host   string
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func newRecorder(t *testing.T, routes map[string]func(w http.ResponseWriter, r request)) *recorder {
	return startRecorder(t, routes, "")
}

// startRecorder serves on TCP, or on the unix socket sock if given.
func startRecorder(t *testing.T, routes map[string]func(w http.ResponseWriter, r request), sock string) *recorder {
	rec := &recorder{routes: routes}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		w.Header().Set("Api-Version", "1.51")
		w.Header().Set("Ostype", "linux")
		if hr.URL.Path == "/_ping" {
			w.Write([]byte("OK"))
			return
		}
		body, _ := io.ReadAll(hr.Body)
		r := request{Method: hr.Method, Path: versionPrefix.ReplaceAllString(hr.URL.Path, ""), Query: hr.URL.Query(), Body: body}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.mu.Unlock()
		if h, ok := rec.routes[r.String()]; ok {
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"message":"unexpected ` + r.String() + `"}`))
	}))
	rec.host = "tcp://" + srv.Listener.Addr().String()
	if sock != "" {
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = l
		rec.host = "unix://" + sock
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return rec
}

// requests returns and forgets what was received.
func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.reqs
	rec.reqs = nil
	return r
}

func reply(code int, body string) func(w http.ResponseWriter, r request) {
	return func(w http.ResponseWriter, _ request) {
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

// run runs ctl against the recorder with stdin.
func (rec *recorder) run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	c := &CLI{Out: &o, Err: &e, In: strings.NewReader(stdin)}
	root := NewRootCommand(c)
	root.SetArgs(append([]string{"-H", rec.host}, args...))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(c, err)
	}
	return o.String(), e.String(), code
}

func paths(reqs []request) []string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.String())
	}
	return s
}

func TestRename(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/a/rename":    reply(204, ""),
		"POST /containers/nope/rename": reply(404, `{"message":"No such container: nope"}`),
	})
	out, errOut, code := rec.run(t, "", "rename", "a", "b")
	reqs := rec.requests()
	if code != 0 || out != "" || errOut != "" || len(reqs) != 1 || reqs[0].Query.Get("name") != "b" {
		t.Errorf("rename: %d %q %q %v", code, out, errOut, reqs)
	}
	_, errOut, code = rec.run(t, "", "container", "rename", "nope", "b")
	if code != 1 || errOut != "Error response from daemon: No such container: nope\nError: failed to rename container named nope\n" {
		t.Errorf("rename unknown: %d %q", code, errOut)
	}
	rec.requests()
	_, errOut, code = rec.run(t, "", "rename", "a", " ")
	if code != 1 || errOut != "Error: Neither old nor new names may be empty\n" || len(rec.requests()) != 0 {
		t.Errorf("rename to blank: %d %q", code, errOut)
	}
}

func TestUpdate(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/c1/update": reply(200, `{"Warnings":["swap limit ignored"]}`),
		"POST /containers/c2/update": reply(200, `{"Warnings":[]}`),
		"POST /containers/c3/update": reply(404, `{"message":"No such container: c3"}`),
	})
	out, errOut, code := rec.run(t, "", "update", "--cpus", "1.5", "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m",
		"-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpu-rt-period", "1000", "--cpu-rt-runtime", "900",
		"--cpuset-cpus", "0", "--cpuset-mems", "0", "--blkio-weight", "500", "--pids-limit", "50", "--restart", "on-failure:2", "c1", "c2", "c3")
	if code != 1 || out != "c1\nc2\nswap limit ignored\n" || errOut != "Error response from daemon: No such container: c3\n" {
		t.Errorf("update: %d %q %q", code, out, errOut)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests %v", paths(reqs))
	}
	pids := int64(50)
	want := container.UpdateConfig{
		Resources: container.Resources{
			NanoCPUs: 1_500_000_000, Memory: 64 << 20, MemorySwap: -1, MemoryReservation: 32 << 20, CPUShares: 512,
			CPUPeriod: 100000, CPUQuota: 50000, CPURealtimePeriod: 1000, CPURealtimeRuntime: 900,
			CpusetCpus: "0", CpusetMems: "0", BlkioWeight: 500, PidsLimit: &pids,
		},
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2},
	}
	wantJSON, _ := json.Marshal(want)
	for _, r := range reqs {
		var got container.UpdateConfig
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%s:\n%s\nwant\n%s", r, gotJSON, wantJSON)
		}
	}
	_, errOut, code = rec.run(t, "", "update", "c1")
	if code != 1 || errOut != "you must provide one or more flags when using this command\n" || len(rec.requests()) != 0 {
		t.Errorf("update without flags: %d %q", code, errOut)
	}
	_, errOut, code = rec.run(t, "", "container", "update", "--restart", "on-failure:x", "c1")
	if code != 1 || errOut != "invalid restart policy format: maximum retry count must be an integer\n" || len(rec.requests()) != 0 {
		t.Errorf("update bad restart: %d %q", code, errOut)
	}
}

func TestPort(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/web/json": reply(200, `{"Id":"abc","Name":"/web","NetworkSettings":{"Ports":{
			"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
			"9/udp":[{"HostIp":"","HostPort":"9"}],
			"443/tcp":null}}}`),
	})
	for _, tc := range []struct {
		args     []string
		out, err string
		wantCode int
	}{
		{[]string{"port", "web"}, "9/udp -> :9\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n", "", 0},
		{[]string{"container", "port", "web", "80"}, "0.0.0.0:8080\n[::]:8080\n", "", 0},
		{[]string{"port", "web", "9/udp"}, ":9\n", "", 0},
		{[]string{"port", "web", "443"}, "", "Error: No public port '443' published for web\n", 1},
		{[]string{"port", "web", "9"}, "", "Error: No public port '9' published for web\n", 1},
		{[]string{"port", "web", "99999"}, "", "Error: invalid port (99999): strconv.ParseUint: parsing \"99999\": value out of range\n", 1},
	} {
		out, errOut, code := rec.run(t, "", tc.args...)
		if out != tc.out || errOut != tc.err || code != tc.wantCode {
			t.Errorf("%q: %d %q %q", tc.args, code, out, errOut)
		}
	}
}

func TestContainerPrune(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/prune": reply(200, `{"ContainersDeleted":["aaa","bbb"],"SpaceReclaimed":2048}`),
	})
	const prompt = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
	out, _, code := rec.run(t, "n\n", "container", "prune")
	if code != 0 || out != prompt || len(rec.requests()) != 0 {
		t.Errorf("prune answered no: %d %q", code, out)
	}
	out, _, code = rec.run(t, "y\n", "container", "prune", "--filter", "until=24h", "--filter", "label=a=b")
	reqs := rec.requests()
	if code != 0 || out != prompt+"Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 2.048kB\n" || len(reqs) != 1 {
		t.Fatalf("prune: %d %q %v", code, out, reqs)
	}
	var filters map[string]map[string]bool
	if err := json.Unmarshal([]byte(reqs[0].Query.Get("filters")), &filters); err != nil || !filters["until"]["24h"] || !filters["label"]["a=b"] {
		t.Errorf("filters %q", reqs[0].Query.Get("filters"))
	}
	rec.routes["POST /containers/prune"] = reply(200, `{"ContainersDeleted":null,"SpaceReclaimed":0}`)
	out, _, code = rec.run(t, "", "container", "prune", "-f")
	if code != 0 || out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune -f, nothing: %d %q", code, out)
	}
}

// TestCreateRequest: what create sends, --pull, --cidfile, --platform.
func TestCreateRequest(t *testing.T) {
	created := 0
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/create": func(w http.ResponseWriter, r request) {
			created++
			if strings.Contains(string(r.Body), `"Image":"missing"`) && created == 1 {
				w.WriteHeader(404)
				w.Write([]byte(`{"message":"No such image: missing:latest"}`))
				return
			}
			w.WriteHeader(201)
			w.Write([]byte(`{"Id":"0123456789ab","Warnings":["a warning"]}`))
		},
		"POST /images/create": reply(200, `{"status":"Pulling from library/busybox"}`+"\n"+`{"status":"Status: Downloaded newer image"}`+"\n"),
	})
	cid := filepath.Join(t.TempDir(), "cid")
	out, errOut, code := rec.run(t, "", "create", "--name", "n1", "--platform", "linux/arm64/v8", "--cidfile", cid, "--pull", "never",
		"-m", "1g", "--cap-add", "net_admin", "busybox", "echo", "hi")
	reqs := rec.requests()
	if code != 0 || out != "0123456789ab\n" || errOut != "WARNING: a warning\n" || len(reqs) != 1 {
		t.Fatalf("create: %d %q %q %v", code, out, errOut, paths(reqs))
	}
	q := reqs[0].Query
	if q.Get("name") != "n1" || q.Get("platform") != "linux/arm64/v8" {
		t.Errorf("query %v", q)
	}
	var body container.CreateRequest
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Image != "busybox" || strings.Join(body.Cmd, " ") != "echo hi" || body.HostConfig.Memory != 1<<30 ||
		body.HostConfig.ContainerIDFile != cid || strings.Join(body.HostConfig.CapAdd, ",") != "CAP_NET_ADMIN" {
		t.Errorf("body %s", reqs[0].Body)
	}
	if data, err := os.ReadFile(cid); err != nil || string(data) != "0123456789ab" {
		t.Errorf("cidfile: %q %v", data, err)
	}
	// An existing cidfile is refused before anything is created.
	_, errOut, code = rec.run(t, "", "create", "--cidfile", cid, "busybox")
	if code != 1 || !strings.Contains(errOut, "container ID file found, make sure the other container isn't running or delete "+cid) || len(rec.requests()) != 0 {
		t.Errorf("cidfile exists: %d %q", code, errOut)
	}

	_, errOut, code = rec.run(t, "", "create", "-q", "--pull", "always", "busybox:1.36")
	reqs = rec.requests()
	if code != 0 || strings.Join(paths(reqs), ",") != "POST /images/create,POST /containers/create" ||
		reqs[0].Query.Get("fromImage") != "docker.io/library/busybox" || reqs[0].Query.Get("tag") != "1.36" || errOut != "WARNING: a warning\n" {
		t.Errorf("--pull always: %d %q %v", code, errOut, paths(reqs))
	}

	created = 0
	cid2 := filepath.Join(t.TempDir(), "cid")
	_, errOut, code = rec.run(t, "", "create", "--cidfile", cid2, "missing")
	reqs = rec.requests()
	if code != 0 || strings.Join(paths(reqs), ",") != "POST /containers/create,POST /images/create,POST /containers/create" ||
		!strings.HasPrefix(errOut, "Unable to find image 'missing:latest' locally\n") {
		t.Errorf("--pull missing: %d %q %v", code, errOut, paths(reqs))
	}

	created = 0
	_, errOut, code = rec.run(t, "", "create", "--cidfile", cid2+"x", "--pull", "never", "missing")
	reqs = rec.requests()
	if code != 1 || errOut != "Error response from daemon: No such image: missing:latest\n" || len(reqs) != 1 {
		t.Errorf("--pull never: %d %q %v", code, errOut, paths(reqs))
	}
	if _, err := os.Stat(cid2 + "x"); !os.IsNotExist(err) {
		t.Errorf("cidfile left after a failed create: %v", err)
	}

	for _, tc := range []struct {
		args []string
		err  string
		code int
	}{
		{[]string{"create", "-m", "foo", "busybox"}, "invalid argument \"foo\" for \"-m, --memory\" flag: invalid size: 'foo'\n\nUsage:  ctl create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'ctl create --help' for more information\n", 125},
		{[]string{"run", "--pid", "bad", "busybox"}, "ctl: --pid: invalid PID mode\n\nRun 'ctl run --help' for more information\n", 125},
		{[]string{"run", "--pull", "sometimes", "busybox"}, "ctl: invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'ctl run --help' for more information\n", 125},
		{[]string{"run", "-d", "-a", "stdout", "busybox"}, "conflicting options: cannot specify both --attach and --detach\n", 1},
		{[]string{"run", "-it", "busybox"}, "the input device is not a TTY\n", 1},
		{[]string{"create", "--cpu-count", "2", "busybox"}, "\"--cpu-count\" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux\n", 1},
		{[]string{"create", "--disable-content-trust=false", "busybox"}, "ctl: --disable-content-trust=false: image signature verification (content trust) is not supported\n\nRun 'ctl create --help' for more information\n", 125},
		{[]string{"run"}, "ctl: 'ctl run' requires at least 1 argument\n\nUsage:  ctl run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'ctl run --help' for more information\n", 1},
	} {
		_, errOut, code := rec.run(t, "", tc.args...)
		if code != tc.code || errOut != tc.err || len(rec.requests()) != 0 {
			t.Errorf("%q: %d %q", tc.args, code, errOut)
		}
	}
}

// TestRunDetached: run -d creates without attaching, starts, prints the id.
func TestRunDetached(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/create":        reply(201, `{"Id":"c0ffee","Warnings":[]}`),
		"POST /containers/c0ffee/start":  reply(204, ""),
		"POST /containers/missing/start": reply(404, `{"message":"No such container"}`),
	})
	out, errOut, code := rec.run(t, "", "container", "run", "-d", "-i", "--rm", "busybox", "top")
	reqs := rec.requests()
	if code != 0 || out != "c0ffee\n" || errOut != "" || strings.Join(paths(reqs), ",") != "POST /containers/create,POST /containers/c0ffee/start" {
		t.Fatalf("run -d: %d %q %q %v", code, out, errOut, paths(reqs))
	}
	var body container.CreateRequest
	json.Unmarshal(reqs[0].Body, &body)
	if body.AttachStdin || body.AttachStdout || body.AttachStderr || body.StdinOnce || !body.OpenStdin || !body.HostConfig.AutoRemove {
		t.Errorf("run -d -i body: %s", reqs[0].Body)
	}
}

func TestImageAndContainerGroups(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json":   reply(200, `[]`),
		"GET /images/json":       reply(200, `[]`),
		"DELETE /containers/x":   reply(204, ""),
		"DELETE /images/busybox": reply(200, `[{"Untagged":"busybox:latest"}]`),
	})
	for _, args := range [][]string{
		{"container", "ls", "-a"}, {"container", "ps"}, {"container", "rm", "-f", "x"},
		{"image", "ls"}, {"image", "rm", "busybox"},
	} {
		if _, errOut, code := rec.run(t, "", args...); code != 0 {
			t.Errorf("%q: %d %q", args, code, errOut)
		}
	}
	got := strings.Join(paths(rec.requests()), ",")
	if got != "GET /containers/json,GET /containers/json,DELETE /containers/x,GET /images/json,DELETE /images/busybox" {
		t.Errorf("requests: %s", got)
	}
	root := NewRootCommand(&CLI{})
	for _, sub := range []string{"attach", "create", "exec", "export", "inspect", "kill", "logs", "ls", "pause", "port", "prune",
		"rename", "restart", "rm", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"} {
		if c, _, err := root.Find([]string{"container", sub}); err != nil || c.Name() == "container" {
			t.Errorf("no container %s", sub)
		}
	}
	for _, sub := range []string{"ls", "pull", "push", "rm", "tag", "inspect", "history", "save", "load", "prune"} {
		if c, _, err := root.Find([]string{"image", sub}); err != nil || c.Name() == "image" {
			t.Errorf("no image %s", sub)
		}
	}
}

// TestUseAPISocket: --use-api-socket mounts the engine's socket and copies
// the local registry credentials in, as docker does.
func TestUseAPISocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "sock") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "e.sock")
	rec := startRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/create":      reply(201, `{"Id":"feed","Warnings":[]}`),
		"PUT /containers/feed/archive": reply(200, ""),
	}, sock)
	t.Setenv("DOCKER_CONFIG", dir)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"reg.example":{"auth":"dTpw"}}}`), 0o600)

	out, errOut, code := rec.run(t, "", "create", "--use-api-socket", "busybox")
	reqs := rec.requests()
	if code != 0 || out != "feed\n" || strings.Join(paths(reqs), ",") != "POST /containers/create,PUT /containers/feed/archive" {
		t.Fatalf("create: %d %q %q %v", code, out, errOut, paths(reqs))
	}
	var body container.CreateRequest
	json.Unmarshal(reqs[0].Body, &body)
	m := body.HostConfig.Mounts
	if len(m) != 1 || m[0].Type != "bind" || m[0].Source != sock || m[0].Target != "/var/run/docker.sock" ||
		strings.Join(body.Env, ",") != "DOCKER_CONFIG=/run/secrets/docker" {
		t.Errorf("create body: %s", reqs[0].Body)
	}
	tr := tar.NewReader(bytes.NewReader(reqs[1].Body))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "/run/secrets/docker/config.json" || hdr.Mode != 0o600 || reqs[1].Query.Get("path") != "/" {
		t.Fatalf("archive: %v %+v %v", err, hdr, reqs[1].Query)
	}
	data, _ := io.ReadAll(tr)
	var cfg struct {
		Auths map[string]struct{ Auth string }
	}
	if json.Unmarshal(data, &cfg) != nil || cfg.Auths["reg.example"].Auth != "dTpw" {
		t.Errorf("config copied: %s", data)
	}

	// DOCKER_CONFIG given: only the socket.
	rec.run(t, "", "create", "--use-api-socket", "-e", "DOCKER_CONFIG=/mine", "busybox")
	if got := strings.Join(paths(rec.requests()), ","); got != "POST /containers/create" {
		t.Errorf("with DOCKER_CONFIG: %s", got)
	}
	tcp := newRecorder(t, nil)
	_, errOut, code = tcp.run(t, "", "create", "--use-api-socket", "busybox")
	if code != 1 || !strings.HasPrefix(errOut, "flag --use-api-socket can only be used with unix sockets") || len(tcp.requests()) != 0 {
		t.Errorf("tcp: %d %q", code, errOut)
	}
}
