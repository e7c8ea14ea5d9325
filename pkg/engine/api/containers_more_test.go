package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/engine/images/imagestest"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/engine/volume"
)

const busyboxLayer = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

// newFullEnv is newEnv over the fake with the image API too (snapshot
// usage for sizes and prune).
func newFullEnv(t *testing.T) (*env, *imagestest.Supervisor) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	full := imagestest.New()
	// busybox with one layer, whose snapshot usage tests set.
	full.AddImage("docker.io/library/busybox:latest", "sha256:"+strings.Repeat("b", 64), &ocispec.Image{
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{busyboxLayer}},
	})
	e := &env{sock: filepath.Join(dir, "e.sock"), sup: full.Supervisor, full: full, root: filepath.Join(dir, "data")}
	e.start(t)
	return e, full
}

func (e *env) named(t *testing.T, name string, cfg *container.Config) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.cl.ContainerCreate(context.Background(), client.ContainerCreateOptions{Name: name, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// waitState polls inspect until the container has the status.
func (e *env) waitState(t *testing.T, id string, st container.ContainerState) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if e.inspect(t, id).State.Status == st {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never %s", id, st)
}

// pastEvents reads the recorded events from since until now.
func (e *env) pastEvents(t *testing.T, since time.Time, filters string) (int, []events.Message, string) {
	t.Helper()
	q := url.Values{}
	q.Set("since", strconv.FormatInt(since.Unix(), 10))
	now := time.Now()
	q.Set("until", fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()))
	if filters != "" {
		q.Set("filters", filters)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://engine/events?"+q.Encode(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.http.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms []events.Message
	var raw strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		raw.WriteString(sc.Text())
		var m events.Message
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Type != "" {
			ms = append(ms, m)
		}
	}
	return resp.StatusCode, ms, raw.String()
}

func TestRename(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	a := e.named(t, "a1", &container.Config{Cmd: []string{"echo"}})
	b := e.named(t, "b1", &container.Config{Cmd: []string{"echo"}})
	if _, err := e.cl.ContainerRename(ctx, "a1", client.ContainerRenameOptions{NewName: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.inspect(t, a).Name; got != "/c1" {
		t.Errorf("name after rename %q", got)
	}
	data, err := os.ReadFile(filepath.Join(e.root, "containers", a, "config.v2.json"))
	if err != nil || !strings.Contains(string(data), `"Name":"/c1"`) {
		t.Errorf("record not rewritten: %v %s", err, data)
	}
	// The old name is free again, the new one taken.
	e.named(t, "a1", &container.Config{Cmd: []string{"echo"}})
	cases := []struct {
		ref, name string
		status    int
		msg       string
	}{
		{"c1", "b1", 409, fmt.Sprintf(`Error when allocating new name: Conflict. The container name \"/b1\" is already in use by container \"%s\"`, b)},
		{"c1", "c1", 400, "Renaming a container with the same name as its current name"},
		{"c1", "/c1", 400, "Renaming a container with the same name as its current name"},
		{"c1", "bad name", 400, "Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"c1", "", 400, "Neither old nor new names may be empty"},
		{"nosuch", "x2", 404, "No such container: nosuch"},
	}
	for _, c := range cases {
		resp, body := e.do(t, http.MethodPost, "/containers/"+c.ref+"/rename?name="+url.QueryEscape(c.name), "")
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("rename %s -> %q: %d %s, want %d %s", c.ref, c.name, resp.StatusCode, body, c.status, c.msg)
		}
	}
	if got := e.inspect(t, a).Name; got != "/c1" {
		t.Errorf("name after failed renames %q", got)
	}
	code, ms, raw := e.pastEvents(t, since, `{"event":{"rename":true}}`)
	if code != 200 || len(ms) != 1 || ms[0].Actor.ID != a || ms[0].Actor.Attributes["oldName"] != "/a1" || ms[0].Actor.Attributes["name"] != "c1" {
		t.Errorf("rename events: %d %s", code, raw)
	}
}

func TestContainerPrune(t *testing.T) {
	e, full := newFullEnv(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	running := e.named(t, "running", &container.Config{Cmd: []string{"sleep"}})
	e.startC(t, running)
	exited := e.named(t, "exited", &container.Config{Cmd: []string{"echo"}})
	e.startC(t, exited)
	e.waitState(t, exited, container.StateExited)
	kept := e.named(t, "kept", &container.Config{Cmd: []string{"echo"}, Labels: map[string]string{"keep": "yes"}})
	created := e.named(t, "created", &container.Config{Cmd: []string{"echo"}})
	for i, id := range []string{running, exited, kept, created} {
		full.Usages[id] = int64(100 * (i + 1))
	}

	for _, c := range []struct{ filters, msg string }{
		{`{"bogus":{"x":true}}`, "invalid filter 'bogus'"},
		{`{"until":{"1h":true,"2h":true}}`, "more than one until filter specified"},
		{`{"until":{"yesterday":true}}`, "invalid timestamp"},
		{`not json`, "invalid filter"},
	} {
		resp, body := e.do(t, http.MethodPost, "/containers/prune?filters="+url.QueryEscape(c.filters), "")
		if resp.StatusCode != 400 || !strings.Contains(body, c.msg) {
			t.Errorf("prune %s: %d %s", c.filters, resp.StatusCode, body)
		}
	}
	// Created after until: nothing goes.
	res, err := e.cl.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: client.Filters{}.Add("until", "2000-01-01T00:00:00Z")})
	if err != nil || len(res.Report.ContainersDeleted) != 0 {
		t.Fatalf("prune until 2000: %v %+v", err, res.Report)
	}
	res, err = e.cl.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: client.Filters{}.Add("label!", "keep=yes")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range res.Report.ContainersDeleted {
		got[id] = true
	}
	if len(got) != 2 || !got[exited] || !got[created] || res.Report.SpaceReclaimed != 200+400 {
		t.Errorf("prune report %+v", res.Report)
	}
	for _, id := range []string{exited, created} {
		if _, err := os.Stat(filepath.Join(e.root, "containers", id)); !os.IsNotExist(err) {
			t.Errorf("dir of %s left: %v", id, err)
		}
		if _, ok := e.sup.Snapshots[id]; ok {
			t.Errorf("snapshot of %s left", id)
		}
	}
	list, _ := e.cl.ContainerList(ctx, client.ContainerListOptions{All: true})
	if len(list.Items) != 2 {
		t.Errorf("left: %+v", list.Items)
	}
	code, ms, raw := e.pastEvents(t, since, `{"event":{"prune":true}}`)
	if code != 200 || len(ms) != 2 || ms[1].Actor.Attributes["reclaimed"] != "600" || ms[0].Actor.Attributes["reclaimed"] != "0" || ms[1].Type != events.ContainerEventType {
		t.Errorf("prune events: %s", raw)
	}
}

func TestTopPSArgs(t *testing.T) {
	e := newEnv(t)
	e.sup.InitPid = uint32(os.Getpid())
	id := e.named(t, "top", &container.Config{Cmd: []string{"sleep"}})
	resp, body := e.do(t, http.MethodGet, "/containers/top/top?ps_args=-o+pid,comm", "")
	if resp.StatusCode != 409 || !strings.Contains(body, "is not running") {
		t.Errorf("top of a created container: %d %s", resp.StatusCode, body)
	}
	e.startC(t, id)
	res, err := e.cl.ContainerTop(context.Background(), id, client.ContainerTopOptions{Arguments: []string{"-o", "pid,comm"}})
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	comm, _ := os.ReadFile("/proc/self/comm")
	if strings.Join(res.Titles, " ") != "PID COMMAND" || len(res.Processes) != 1 || res.Processes[0][0] != me || res.Processes[0][1] != strings.TrimSpace(string(comm)) {
		t.Errorf("top -o pid,comm: %+v", res)
	}
	// Without ps_args: ps -ef's columns, read from /proc.
	res, err = e.cl.ContainerTop(context.Background(), id, client.ContainerTopOptions{})
	if err != nil || len(res.Titles) != 8 || len(res.Processes) != 1 || res.Processes[0][1] != me {
		t.Errorf("top: %v %+v", err, res)
	}
	for _, c := range []struct {
		args   string
		status int
		msg    string
	}{
		{"-o comm", 500, "Couldn't find PID field in ps output"},
		{"-o user=PID", 500, `specifying \"user=PID\" is not allowed`},
		{"--no-such-option", 500, "ps: "},
	} {
		resp, body := e.do(t, http.MethodGet, "/containers/top/top?ps_args="+url.QueryEscape(c.args), "")
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("top %q: %d %s", c.args, resp.StatusCode, body)
		}
	}
}

func TestParsePS(t *testing.T) {
	out := "  PID   LWP CMD\n    1     - init x\n   10     - sh -c a b\n    -    11 -\n   12     - other\n    -    13 -\n"
	resp, err := parsePS([]byte(out), []int{10})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"10", "-", "sh -c a b"}, {"-", "11", "-"}}
	if fmt.Sprint(resp.Processes) != fmt.Sprint(want) {
		t.Errorf("processes %q, want %q", resp.Processes, want)
	}
	if _, err := parsePS([]byte("  PID\n  abc\n"), []int{1}); err == nil || !strings.Contains(err.Error(), "Unexpected pid 'abc'") {
		t.Errorf("bad pid: %v", err)
	}
}

func TestListAllFilters(t *testing.T) {
	e, full := newFullEnv(t)
	ctx := context.Background()
	first := e.named(t, "first", &container.Config{Cmd: []string{"fail", "3", "x"}, Labels: map[string]string{"a": "1"}})
	e.startC(t, first)
	e.waitState(t, first, container.StateExited)
	time.Sleep(5 * time.Millisecond) // distinct creation times order the list
	second := e.named(t, "second", &container.Config{Cmd: []string{"echo", "hello world"}})
	time.Sleep(5 * time.Millisecond)
	third := e.named(t, "third", &container.Config{Cmd: []string{"sleep"}})
	e.startC(t, third)
	names := func(opts client.ContainerListOptions) string {
		t.Helper()
		res, err := e.cl.ContainerList(ctx, opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts.Filters, err)
		}
		var n []string
		for _, s := range res.Items {
			n = append(n, strings.TrimPrefix(s.Names[0], "/"))
		}
		return strings.Join(n, ",")
	}
	f := func(k string, v ...string) client.Filters { return client.Filters{}.Add(k, v...) }
	cases := []struct {
		opts client.ContainerListOptions
		want string
	}{
		{client.ContainerListOptions{All: true}, "third,second,first"},
		{client.ContainerListOptions{Limit: 2}, "third,second"},
		{client.ContainerListOptions{All: true, Filters: f("before", "third")}, "second,first"},
		{client.ContainerListOptions{All: true, Filters: f("since", "first")}, "third,second"},
		{client.ContainerListOptions{Filters: f("status", "exited")}, "first"},
		{client.ContainerListOptions{All: true, Filters: f("exited", "3")}, "first"},
		{client.ContainerListOptions{All: true, Filters: f("exited", "0")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("health", "none")}, "third,second,first"},
		{client.ContainerListOptions{All: true, Filters: f("health", "healthy")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("is-task", "false")}, "third,second,first"},
		{client.ContainerListOptions{All: true, Filters: f("is-task", "true")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("isolation", "default")}, "third,second,first"},
		{client.ContainerListOptions{All: true, Filters: f("publish", "80")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("expose", "80-81/udp")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("volume", "/data")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("network", "bridge")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("ancestor", "busybox:latest")}, "third,second,first"},
		{client.ContainerListOptions{All: true, Filters: f("ancestor", "bbbbbbbbbbbb")}, "third,second,first"},
		{client.ContainerListOptions{All: true, Filters: f("ancestor", "nosuch")}, ""},
		{client.ContainerListOptions{All: true, Filters: f("name", "^/?sec")}, "second"},
		{client.ContainerListOptions{All: true, Filters: f("status", "running", "created")}, "third,second"},
		{client.ContainerListOptions{All: true, Filters: f("label", "a=1")}, "first"},
	}
	for _, c := range cases {
		if got := names(c.opts); got != c.want {
			t.Errorf("%+v %v: %q, want %q", c.opts.Filters, c.opts.All, got, c.want)
		}
	}
	for _, c := range []struct{ q, msg string }{
		{`filters={"status":{"gone":true}}`, "invalid filter 'status=gone': invalid value for state (gone): must be one of created, running, paused, restarting, removing, exited, dead"},
		{`filters={"exited":{"x":true}}`, `invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax`},
		{`filters={"health":{"sick":true}}`, "invalid filter 'health=sick': invalid value for health (sick)"},
		{`filters={"is-task":{"maybe":true}}`, "invalid filter 'is-task=[maybe]'"},
		{`filters={"publish":{"1.2.3.4:80":true}}`, "filter for 'publish' should not contain ':': 1.2.3.4:80"},
		{`filters={"expose":{"x":true}}`, "error while looking up for expose x: invalid start port 'x'"},
		{`filters={"before":{"nosuch":true}}`, "No such container: nosuch"},
		{`filters={"bogus":{"x":true}}`, "invalid filter 'bogus'"},
		{`filters=nope`, "invalid filter"},
		{`limit=x`, `strconv.Atoi: parsing \"x\": invalid syntax`},
	} {
		resp, body := e.do(t, http.MethodGet, "/containers/json?"+strings.ReplaceAll(c.q, " ", "%20"), "")
		if resp.StatusCode/100 != 4 || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s", c.q, resp.StatusCode, body)
		}
	}

	// The fields --format templates read, and size=1.
	full.Usages[second] = 4096
	full.Usages[busyboxLayer] = 1 << 20
	res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{All: true, Size: true, Filters: f("name", "second")})
	if err != nil || len(res.Items) != 1 {
		t.Fatal(err, res.Items)
	}
	s := res.Items[0]
	if s.Command != "echo 'hello world'" || s.Image != "busybox" || s.ImageID != "sha256:"+strings.Repeat("b", 64) ||
		s.State != container.StateCreated || s.Status != "Created" || s.HostConfig.NetworkMode != "bridge" ||
		s.NetworkSettings == nil || s.Mounts == nil || s.Ports == nil || s.SizeRw != 4096 || s.SizeRootFs != 4096+1<<20 {
		t.Errorf("summary %+v", s)
	}
	host := e.create(t, &container.Config{Cmd: []string{"echo"}}, &container.HostConfig{NetworkMode: "host"})
	res, _ = e.cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f("id", host)})
	if len(res.Items) != 1 || res.Items[0].HostConfig.NetworkMode != "host" {
		t.Errorf("host network mode: %+v", res.Items)
	}
	// The name no longer points at the image: the ID is shown.
	delete(e.sup.Images, "docker.io/library/busybox:latest")
	res, _ = e.cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f("name", "second")})
	if len(res.Items) != 1 || res.Items[0].Image != "sha256:"+strings.Repeat("b", 64) {
		t.Errorf("image of a deleted name: %+v", res.Items)
	}
}

func TestInspectShape(t *testing.T) {
	e, full := newFullEnv(t)
	id := e.named(t, "shape", &container.Config{Cmd: []string{"sleep"}})
	e.startC(t, id)
	full.Usages[id] = 10
	full.Usages[busyboxLayer] = 1000
	resp, body := e.do(t, http.MethodGet, "/containers/shape/json?size=1", "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	ns := m["NetworkSettings"].(map[string]any)
	for _, k := range []string{"Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
		"SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
		"IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress", "Networks"} {
		if _, ok := ns[k]; !ok {
			t.Errorf("NetworkSettings has no %s", k)
		}
	}
	if ns["IPAddress"] != "" || ns["Gateway"] != "" || ns["MacAddress"] != "" || fmt.Sprint(ns["Networks"]) != "map[]" || fmt.Sprint(ns["Ports"]) != "map[]" {
		t.Errorf("network settings not empty: %v", ns)
	}
	for _, k := range []string{"ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Platform", "Driver", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs", "RestartCount", "Mounts", "Config", "HostConfig", "SizeRw", "SizeRootFs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	if fmt.Sprint(m["Mounts"]) != "[]" || m["SizeRw"] != float64(10) || m["SizeRootFs"] != float64(1010) || m["Platform"] != "linux" {
		t.Errorf("Mounts %v SizeRw %v SizeRootFs %v Platform %v", m["Mounts"], m["SizeRw"], m["SizeRootFs"], m["Platform"])
	}
	gd := m["GraphDriver"].(map[string]any)
	data, _ := gd["Data"].(map[string]any)
	if gd["Name"] != "overlayfs" || data["UpperDir"] != "/snapshots/"+id+"/fs" || data["WorkDir"] != "/snapshots/"+id+"/work" ||
		data["LowerDir"] != "/snapshots/sha256:chain-docker.io/library/busybox:latest/fs" {
		t.Errorf("GraphDriver %v", gd)
	}
	st := m["State"].(map[string]any)
	if st["Status"] != "running" || st["Running"] != true {
		t.Errorf("State %v", st)
	}
	if _, ok := st["Health"]; ok {
		t.Errorf("Health without a health check: %v", st)
	}
	// Without size=1 no sizes.
	_, body = e.do(t, http.MethodGet, "/containers/shape/json", "")
	if strings.Contains(body, "SizeRw") {
		t.Errorf("sizes without size=1")
	}
	// A supervisor without usage fails size=1 with its error.
	delete(full.Usages, id)
	if resp, body := e.do(t, http.MethodGet, "/containers/shape/json?size=1", ""); resp.StatusCode != 404 {
		t.Errorf("size=1 without usage: %d %s", resp.StatusCode, body)
	}
}

func TestEventFilters(t *testing.T) {
	e := newEnv(t)
	since := time.Now().Add(-time.Second)
	id := e.named(t, "evt", &container.Config{Cmd: []string{"echo"}, Labels: map[string]string{"team": "x"}})
	e.startC(t, id)
	e.waitState(t, id, container.StateExited)
	other := e.named(t, "other", &container.Config{Cmd: []string{"echo"}})
	actions := func(filters string) string {
		t.Helper()
		code, ms, raw := e.pastEvents(t, since, filters)
		if code != 200 {
			t.Fatalf("%s: %d %s", filters, code, raw)
		}
		var out []string
		for _, m := range ms {
			n := m.Actor.Attributes["name"]
			out = append(out, n+":"+string(m.Action))
		}
		return strings.Join(out, ",")
	}
	cases := []struct{ f, want string }{
		{`{"container":{"evt":true}}`, "evt:create,evt:start,evt:die"},
		{`{"container":{"` + other[:8] + `":true}}`, "other:create"},
		{`{"event":{"create":true}}`, "evt:create,other:create"},
		{`{"event":{"create":true},"container":{"ev":true}}`, "evt:create"},
		{`{"type":{"container":true},"event":{"die":true}}`, "evt:die"},
		{`{"type":{"image":true}}`, ""},
		{`{"image":{"busybox":true},"event":{"create":true}}`, "evt:create,other:create"},
		{`{"image":{"alpine":true}}`, ""},
		{`{"label":{"team=x":true},"event":{"start":true}}`, "evt:start"},
		{`{"scope":{"local":true},"event":{"start":true}}`, "evt:start"},
		{`{"scope":{"swarm":true}}`, ""},
		{`{"daemon":{"zz":true}}`, ""},
		{`{"network":{"bridge":true}}`, ""},
		{`{"volume":{"zz":true}}`, ""},
		{`{"plugin":{"zz":true}}`, ""},
		{`{"node":{"zz":true}}`, ""},
		{`{"service":{"zz":true}}`, ""},
		{`{"secret":{"zz":true}}`, ""},
		{`{"config":{"zz":true}}`, ""},
	}
	for _, c := range cases {
		if got := actions(c.f); got != c.want {
			t.Errorf("%s: %q, want %q", c.f, got, c.want)
		}
	}
	for _, c := range []struct{ q, msg string }{
		{"filters=" + url.QueryEscape(`{"bogus":{"x":true}}`), "invalid filter 'bogus'"},
		{"filters=nope", "invalid filter"},
		{"since=abc", "invalid value for 'since'"},
		{"until=abc", "invalid value for 'until'"},
		{"since=200&until=100", "`since` time (200) cannot be after `until` time (100)"},
	} {
		resp, body := e.do(t, http.MethodGet, "/events?"+c.q, "")
		if resp.StatusCode != 400 || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s", c.q, resp.StatusCode, body)
		}
	}
}

func TestInfoAndVersionComplete(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := e.cl.Events(ctx, client.EventsListOptions{})
	_ = ev
	var info map[string]any
	for i := 0; i < 100; i++ {
		_, body := e.do(t, http.MethodGet, "/info", "")
		info = nil
		if err := json.Unmarshal([]byte(body), &info); err != nil {
			t.Fatal(err)
		}
		if info["NEventsListener"] == float64(1) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info["NEventsListener"] != float64(1) {
		t.Errorf("NEventsListener %v", info["NEventsListener"])
	}
	for _, k := range []string{"ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver", "DriverStatus",
		"Plugins", "MemoryLimit", "SwapLimit", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit", "IPv4Forwarding", "Debug", "NFd",
		"OomKillDisable", "NGoroutines", "SystemTime", "LoggingDriver", "CgroupDriver", "CgroupVersion", "NEventsListener", "KernelVersion",
		"OperatingSystem", "OSVersion", "OSType", "Architecture", "IndexServerAddress", "RegistryConfig", "NCPU", "MemTotal", "DockerRootDir",
		"HttpProxy", "HttpsProxy", "NoProxy", "Name", "Labels", "ExperimentalBuild", "ServerVersion", "Runtimes", "DefaultRuntime", "Swarm",
		"LiveRestoreEnabled", "Isolation", "InitBinary", "ContainerdCommit", "RuncCommit", "InitCommit", "SecurityOptions", "CDISpecDirs", "Warnings"} {
		if _, ok := info[k]; !ok {
			t.Errorf("info has no %s", k)
		}
	}
	if info["LiveRestoreEnabled"] != true || info["IndexServerAddress"] != "https://index.docker.io/v1/" || info["DefaultRuntime"] != "berth" {
		t.Errorf("info %v", info)
	}
	// SecurityOptions say what the spec generation applies.
	spec, err := oci.Spec(oci.Options{ID: strings.Repeat("1", 64), Config: &container.Config{Cmd: []string{"sh"}}, Host: &container.HostConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	secopts := fmt.Sprint(info["SecurityOptions"])
	if (spec.Linux.Seccomp != nil) != strings.Contains(secopts, "name=seccomp,profile=builtin") {
		t.Errorf("SecurityOptions %s, spec seccomp %v", secopts, spec.Linux.Seccomp != nil)
	}
	res, err := e.cl.Info(context.Background(), client.InfoOptions{})
	if err != nil || res.Info.RegistryConfig == nil || res.Info.RegistryConfig.IndexConfigs["docker.io"] == nil || fmt.Sprint(res.Info.Plugins.Log) != fmt.Sprint(containers.LogDrivers()) || fmt.Sprint(res.Info.Plugins.Volume) != "[local]" {
		t.Errorf("info via client: %v %+v", err, res.Info)
	}
	v, err := e.cl.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil || v.Os != "linux" || v.Components[0].Details["Experimental"] != "false" || v.Components[0].Details["KernelVersion"] == "" {
		t.Errorf("version %v %+v", err, v)
	}
}

func TestFilterTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	cases := map[string]string{
		"1h":                        "2026-12-04T11:00:00Z",
		"2000-01-02":                "2000-01-02T00:00:00Z",
		"2000-01-02T03":             "2000-01-02T03:00:00Z",
		"2000-01-02T03:04":          "2000-01-02T03:04:00Z",
		"2000-01-02T03:04:05":       "2000-01-02T03:04:05Z",
		"2000-01-02T03:04:05Z":      "2000-01-02T03:04:05Z",
		"2000-01-02T03:04:05+01:00": "2000-01-02T02:04:05Z",
		"2000-01-02T03:04:05.5Z":    "2000-01-02T03:04:05.5Z",
		"946782245":                 "2000-01-02T03:04:05Z",
		"946782245.25":              "2000-01-02T03:04:05.25Z",
	}
	for in, want := range cases {
		got, err := filterTime(in, now)
		if err != nil || got.Format(time.RFC3339Nano) != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2000-13-01", "0x10"} {
		if _, err := filterTime(bad, now); err == nil || StatusOf(err) != 400 {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for out, want := range map[string][2]string{
		"runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n": {"1.1.5+ds1", "1.1.5+ds1-1+deb12u1"},
		"tini version 0.19.0 - git.de40ad0\n":                                    {"0.19.0", "de40ad0"},
		"tini version 0.19.0\n":                                                  {"0.19.0", "0.19.0"},
		"crun version 1.8.1\ncommit: f8a096be\n":                                 {"1.8.1", "f8a096be"},
		"garbage":                                                                {"", ""},
	} {
		if v, c := parseVersion(out); v != want[0] || c != want[1] {
			t.Errorf("%q: %q %q, want %q", out, v, c, want)
		}
	}
}

// newVolEnv is newEnv with a volume store.
func newVolEnv(t *testing.T) (*env, *volume.Store) {
	t.Helper()
	dir := t.TempDir()
	vols, err := volume.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sock: filepath.Join(dir, "e.sock"), sup: containerstest.New(), root: filepath.Join(dir, "data"), opts: []containers.Option{containers.WithVolumes(vols)}}
	e.start(t)
	return e, vols
}

func TestListVolumeFilterAndMounts(t *testing.T) {
	e, _ := newVolEnv(t)
	ctx := context.Background()
	withVol := e.create(t, &container.Config{Cmd: []string{"echo"}}, &container.HostConfig{Binds: []string{"myvol:/data"}})
	e.create(t, &container.Config{Cmd: []string{"echo"}}, nil)
	for v, want := range map[string]int{"myvol": 1, "/data": 1, "/other": 0, "nosuch": 0} {
		res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("volume", v)})
		if err != nil || len(res.Items) != want || want == 1 && res.Items[0].ID != withVol {
			t.Errorf("volume=%s: %v %d items, want %d", v, err, len(res.Items), want)
		}
	}
	res, _ := e.cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("id", withVol)})
	if len(res.Items) != 1 || len(res.Items[0].Mounts) != 1 || res.Items[0].Mounts[0].Name != "myvol" || res.Items[0].Mounts[0].Destination != "/data" {
		t.Errorf("list mounts: %+v", res.Items)
	}
	if m := e.inspect(t, withVol).Mounts; len(m) != 1 || m[0].Name != "myvol" {
		t.Errorf("inspect mounts: %+v", m)
	}
}
