package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images/imagestest"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// imageEngine serves the Engine API over the image fake.
func imageEngine(t *testing.T) (string, *imagestest.Supervisor) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sup := imagestest.New()
	d, err := containers.New(context.Background(), sup, filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "e.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.New(d, api.Config{Version: "test"})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); d.Close() })
	return "unix://" + sock, sup
}

func TestPullPushTagImages(t *testing.T) {
	host, sup := imageEngine(t)
	layer := "sha256:" + strings.Repeat("ab", 32)
	sup.PullSteps = []*supervisorv1.Progress{
		{Id: layer, Status: "downloading", Current: 5, Total: 10},
		{Id: layer, Status: "extracting", Current: 10, Total: 10},
		{Id: layer, Status: "done"},
	}
	// Stored credentials of the registry go with the request.
	cfgDir := t.TempDir()
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"localhost:5000":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("joe:pw"))+`"}}}`), 0o600)
	t.Setenv("DOCKER_CONFIG", cfgDir)
	out, errOut, code := ctl(t, host, "pull", "localhost:5000/app:v1")
	want := "v1: Pulling from app\nabababababab: Pulling fs layer\nabababababab: Download complete\nabababababab: Pull complete\n" +
		"Digest: sha256:" + strings.Repeat("m", 64) + "\nStatus: Downloaded newer image for localhost:5000/app:v1\nlocalhost:5000/app:v1\n"
	if code != 0 || out != want {
		t.Errorf("pull: %d %q\n%s\nwant\n%s", code, errOut, out, want)
	}
	if len(sup.Auths) != 1 || sup.Auths[0].GetUsername() != "joe" || sup.Auths[0].GetPassword() != "pw" {
		t.Errorf("auth: %+v", sup.Auths)
	}
	if out, _, code := ctl(t, host, "pull", "-q", "busybox"); code != 0 || out != "busybox:latest\n" {
		t.Errorf("pull -q: %d %q", code, out)
	}
	sup.PullErr = io.ErrUnexpectedEOF
	if _, errOut, code := ctl(t, host, "pull", "busybox"); code != 1 || !strings.Contains(errOut, "unexpected EOF") {
		t.Errorf("failed pull: %d %q", code, errOut)
	}

	if _, errOut, code := ctl(t, host, "tag", "busybox", "localhost:5000/bb:v2"); code != 0 {
		t.Fatalf("tag: %q", errOut)
	}
	sup.PushSteps = []*supervisorv1.Progress{{Id: layer, Status: "exists"}}
	out, errOut, code = ctl(t, host, "push", "localhost:5000/bb:v2")
	if code != 0 || !strings.HasPrefix(out, "The push refers to repository [localhost:5000/bb]\nabababababab: Layer already exists\nv2: digest: sha256:") {
		t.Errorf("push: %d %q %q", code, out, errOut)
	}

	out, _, _ = ctl(t, host, "images", "--format", "{{.Repository}}:{{.Tag}}")
	if got := strings.Fields(out); len(got) != 3 || !strings.Contains(out, "busybox:latest\n") || !strings.Contains(out, "localhost:5000/app:v1\n") || !strings.Contains(out, "localhost:5000/bb:v2\n") {
		t.Errorf("images --format: %q", out)
	}
	out, _, _ = ctl(t, host, "images", "--format", "table {{.Repository}}\t{{.Tag}}", "-f", "reference=localhost:5000/*")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.Contains(lines[0], "TAG") {
		t.Errorf("images table format with filter:\n%s", out)
	}
	out, _, _ = ctl(t, host, "image", "ls", "busybox")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "busybox ") {
		t.Errorf("image ls busybox:\n%s", out)
	}
	out, _, _ = ctl(t, host, "image", "inspect", "-f", "{{.Id}} {{index .RepoTags 0}}", "localhost:5000/bb:v2")
	if out != "sha256:"+strings.Repeat("c", 64)+" busybox:latest\n" { // busybox was pulled again above
		t.Errorf("image inspect -f: %q", out)
	}
	out, _, _ = ctl(t, host, "image", "inspect", "busybox")
	var ins []map[string]any
	if err := json.Unmarshal([]byte(out), &ins); err != nil || len(ins) != 1 || ins[0]["Os"] == nil {
		t.Errorf("image inspect: %v %s", err, out)
	}
}

// The terminal display keeps one line per layer and redraws it in place,
// as the docker CLI does (moby's renderer), for a stream shaped as dockerd
// sends it (layer lines carry a progressDetail, the header does not).
func TestDisplayProgressTerminal(t *testing.T) {
	stream := `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[==>  ]","id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Digest: sha256:abc"}
`
	var out bytes.Buffer
	if err := displayProgress(strings.NewReader(stream), &out, true); err != nil {
		t.Fatal(err)
	}
	want := "latest: Pulling from library/busybox\n" +
		"\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B" +
		"\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B" +
		"\x1b[2A\x1b[2K\raaa: Downloading [=========================>                         ]       1B/2B\r\x1b[2B" +
		"\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B" +
		"Digest: sha256:abc\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
	out.Reset()
	if err := displayProgress(strings.NewReader(stream), &out, false); err != nil {
		t.Fatal(err)
	}
	if want := "latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\nbbb: Pull complete\nDigest: sha256:abc\n"; out.String() != want {
		t.Errorf("not a terminal: got %q\nwant %q", out.String(), want)
	}
	err := displayProgress(strings.NewReader(`{"errorDetail":{"message":"boom"},"error":"boom"}`), &out, true)
	if err == nil || err.Error() != "boom" {
		t.Errorf("stream error: %v", err)
	}
}

func TestHistorySaveExportPruneDF(t *testing.T) {
	host, sup := imageEngine(t)
	out, _, code := ctl(t, host, "history", "busybox")
	if code != 0 || !strings.HasPrefix(out, "IMAGE") {
		t.Errorf("history: %d %q", code, out)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bb.tar")
	if _, errOut, code := ctl(t, host, "save", "-o", path, "busybox"); code != 0 {
		t.Fatalf("save: %q", errOut)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	if h, err := tr.Next(); err != nil || h.Name != "names" {
		t.Errorf("saved archive: %v %v", h, err)
	}
	f.Close()
	if _, errOut, code := ctl(t, host, "save", "-o", filepath.Join(dir, "x.tar"), "nosuch"); code != 1 || !strings.Contains(errOut, "No such image") {
		t.Errorf("save of a missing image: %d %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); err == nil {
		t.Error("a failed save left a file")
	}

	ctl(t, host, "create", "--name", "c1", "busybox", "echo")
	out, _, _ = ctl(t, host, "ps", "-aq", "--no-trunc")
	id := strings.TrimSpace(out)
	sup.Files[id] = map[string]string{"etc/hello": "hi"}
	sup.Usages[id] = 2048
	path = filepath.Join(dir, "c1.tar")
	if _, errOut, code := ctl(t, host, "export", "-o", path, "c1"); code != 0 {
		t.Fatalf("export: %q", errOut)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("etc/hello")) {
		t.Error("export lacks the container's file")
	}

	out, _, code = ctl(t, host, "system", "df")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "TYPE") || !strings.HasPrefix(lines[2], "Containers") || !strings.Contains(lines[2], "2.048kB") {
		t.Errorf("system df:\n%s", out)
	}

	sup.AddImage("sha256:"+strings.Repeat("9", 64), "sha256:"+strings.Repeat("9", 64), nil)
	sup.Reclaimed = 5_000_000
	if _, errOut, code := ctl(t, host, "image", "prune"); code != 1 || !strings.Contains(errOut, "-f") {
		t.Errorf("prune without -f and without a terminal: %d %q", code, errOut)
	}
	out, _, code = ctl(t, host, "image", "prune", "-f")
	if code != 0 || !strings.Contains(out, "deleted: sha256:"+strings.Repeat("9", 64)) || !strings.Contains(out, "Total reclaimed space: 5MB") {
		t.Errorf("image prune -f: %d\n%s", code, out)
	}
}
