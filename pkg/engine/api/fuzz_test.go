package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/engine/volume"
)

// The requests whose bodies and queries the fuzzer writes: every endpoint
// that decodes a client's JSON or filters.
var fuzzEndpoints = []struct{ method, path string }{
	{"POST", "/containers/create"},
	{"GET", "/containers/json"},
	{"POST", "/containers/target/update"},
	{"POST", "/containers/target/exec"},
	{"POST", "/volumes/create"},
	{"GET", "/images/json"},
	{"GET", "/volumes"},
}

// FuzzEngineAPI sends arbitrary bodies and queries to the Engine API's
// decoding endpoints (over a fake supervisor): nothing panics, a refusal
// is a 4xx with a message, and a refused create makes no container.
func FuzzEngineAPI(f *testing.F) {
	seeds := []struct {
		ep          uint8
		query, body string
	}{
		{0, "name=a", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":1048576,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}}`},
		{0, "", `{"Image":"busybox","HostConfig":{"Binds":["/tmp:/x:ro,z"],"Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1024}}]}}`},
		{0, "", `{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"Devices":[{"PathOnHost":"/dev/null"}],"Ulimits":[{"Name":"nofile","Soft":1,"Hard":2}]}}`},
		{0, "", `{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":-1},"KernelMemory":5}`},
		{0, "", `{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1k"}},"Sysctls":{"net.ipv4.ip_forward":"1"}}}`},
		{1, "all=1&filters=" + url.QueryEscape(`{"status":{"running":true},"label":{"a=b":true}}`), ""},
		{1, "filters=" + url.QueryEscape(`{"before":{"x":true}}`), ""},
		{2, "", `{"Memory":2097152,"MemorySwap":-1,"CpuShares":512,"RestartPolicy":{"Name":"always"}}`},
		{3, "", `{"Cmd":["ls"],"Env":["A=b"],"User":"1:1","AttachStdout":true}`},
		{4, "", `{"Name":"v","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}`},
		{5, "filters=" + url.QueryEscape(`{"dangling":{"true":true}}`), ""},
		{6, "filters=" + url.QueryEscape(`{"name":{"v":true}}`), ""},
	}
	for _, s := range seeds {
		f.Add(s.ep, s.query, []byte(s.body))
	}
	// Fuzzing workers are stopped without their cleanups: each names its
	// dir by its pid, and removes those of dead workers.
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "fuzzapi-*"))
	for _, o := range old {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(o), "fuzzapi-%d-", &pid); err == nil && syscall.Kill(pid, 0) != nil {
			os.RemoveAll(o)
		}
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("fuzzapi-%d-", os.Getpid()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	vols, err := volume.Open(filepath.Join(dir, "data"))
	if err != nil {
		f.Fatal(err)
	}
	d, err := containers.New(context.Background(), containerstest.New(), filepath.Join(dir, "data"), slog.New(slog.NewTextHandler(io.Discard, nil)), containers.WithVolumes(vols))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	h := New(d, Config{Version: "test", DataRoot: filepath.Join(dir, "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := serve("POST", "/containers/create?name=target", `{"Image":"busybox","Cmd":["sleep","1"]}`); w.Code != http.StatusCreated {
		f.Fatalf("target: %d %s", w.Code, w.Body)
	}

	f.Fuzz(func(t *testing.T, ep uint8, query string, body []byte) {
		e := fuzzEndpoints[int(ep)%len(fuzzEndpoints)]
		if u, err := url.ParseRequestURI(e.path + "?" + query); err != nil || u.Path != e.path || strings.ContainsAny(query, "# ") {
			return // not a request line a client can send
		}
		before := len(d.List(true, 0))
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- serve(e.method, e.path+"?"+query, string(body)) }()
		var w *httptest.ResponseRecorder
		select {
		case w = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s?%s with %q: no answer in 10 s", e.method, e.path, query, body)
		}
		if w.Code >= 400 && w.Code < 500 && strings.TrimSpace(w.Body.String()) == "" {
			t.Fatalf("%s %s: %d without a message", e.method, e.path, w.Code)
		}
		after := d.List(true, 0)
		if e.path == "/containers/create" && w.Code == http.StatusCreated {
			// Accepted: remove it again so that the store stays small.
			for _, c := range after {
				if c.Name != "/target" {
					if err := d.Remove(context.Background(), c.ID, true); err != nil {
						t.Fatalf("remove %s: %v", c.ID, err)
					}
				}
			}
			return
		}
		if w.Code >= 400 && len(after) > before {
			t.Fatalf("%s %s refused (%d %s) but made a container", e.method, e.path, w.Code, w.Body)
		}
	})
}
