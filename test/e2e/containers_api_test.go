package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The docker CLI against engined: rename, container prune, top with ps
// options, ps filters and --format, and the inspect templates users write.
func TestEngineContainersAPI(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	s.loadBusybox()
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	web := strings.TrimSpace(d.must("run", "-d", "--name", "web", "--label", "tier=front", "-v", "webdata:/data", "busybox", "sh", "-c", "echo mark > /marker; exec sleep 300"))
	idle := strings.TrimSpace(d.must("create", "--name", "idle", "busybox", "echo", "hi there"))
	if _, _, err := d.run("run", "--name", "done", "busybox", "sh", "-c", "exit 3"); err == nil {
		t.Fatal("run exit 3 succeeded")
	}
	done := strings.TrimSpace(d.must("inspect", "--format", "{{.Id}}", "done"))

	// rename, with dockerd's refusals.
	d.must("rename", "idle", "idle2")
	if got := strings.TrimSpace(d.must("inspect", "--format", "{{.Name}}", idle)); got != "/idle2" {
		t.Errorf("name after rename: %q", got)
	}
	for _, c := range []struct{ to, msg string }{
		{"web", `Conflict. The container name "/web" is already in use by container "` + web + `"`},
		{"idle2", "Renaming a container with the same name as its current name"},
		{"no way", "Invalid container name (/no way)"},
	} {
		_, errOut, err := d.run("rename", "idle2", c.to)
		if err == nil || !strings.Contains(errOut, c.msg) {
			t.Errorf("rename idle2 %s: %v %s", c.to, err, errOut)
		}
	}

	// ps filters and --format fields.
	ps := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(d.must(append([]string{"ps"}, args...)...))
	}
	if got := ps("-a", "--filter", "exited=3", "--format", "{{.Names}}"); got != "done" {
		t.Errorf("ps --filter exited=3: %q", got)
	}
	if got := ps("-a", "--filter", "status=created", "--format", "{{.Names}}|{{.Command}}|{{.Status}}"); got != `idle2|"echo 'hi there'"|Created` {
		t.Errorf("ps --filter status=created: %q", got)
	}
	if got := ps("--filter", "label=tier=front", "--format", "{{.Names}}|{{.Image}}|{{.State}}|{{.Networks}}|{{.Mounts}}|{{.Ports}}|{{.Label \"tier\"}}"); got != "web|busybox|running|bridge|webdata||front" {
		t.Errorf("ps --filter label: %q", got)
	}
	if got := ps("-a", "--filter", "volume=webdata", "--filter", "volume=/nowhere", "--format", "{{.Names}}"); got != "web" {
		t.Errorf("ps --filter volume=webdata: %q", got)
	}
	if got := ps("-a", "--filter", "before=idle2", "--format", "{{.Names}}"); got != "web" {
		t.Errorf("ps --filter before=idle2: %q", got)
	}
	if got := ps("-a", "--filter", "since=web", "--format", "{{.Names}}"); got != "done\nidle2" {
		t.Errorf("ps --filter since=web: %q", got)
	}
	if got := ps("-a", "--filter", "health=healthy", "--filter", "publish=80", "-q"); got != "" {
		t.Errorf("ps --filter health,publish: %q", got)
	}
	if got := ps("--filter", "name=web", "-s", "--format", "{{.Size}}"); !strings.Contains(got, "(virtual ") {
		t.Errorf("ps -s: %q", got)
	}
	if _, errOut, err := d.run("ps", "--filter", "status=bogus"); err == nil || !strings.Contains(errOut, "invalid filter 'status=bogus'") {
		t.Errorf("ps --filter status=bogus: %v %s", err, errOut)
	}

	// top with ps options.
	top := d.must("top", "web", "-o", "pid,comm")
	lines := strings.Split(strings.TrimSpace(top), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "PID COMMAND" || !strings.HasSuffix(lines[1], "sleep") {
		t.Errorf("docker top -o pid,comm:\n%s", top)
	}
	pid := strings.TrimSpace(d.must("inspect", "--format", "{{.State.Pid}}", "web"))
	if strings.Fields(lines[len(lines)-1])[0] != pid {
		t.Errorf("top pid %q, inspect's %s", lines[len(lines)-1], pid)
	}
	if _, errOut, err := d.run("top", "web", "-o", "comm"); err == nil || !strings.Contains(errOut, "Couldn't find PID field in ps output") {
		t.Errorf("docker top -o comm: %v %s", err, errOut)
	}

	// inspect templates.
	insp := func(format, ref string) string {
		t.Helper()
		return strings.TrimSpace(d.must("inspect", "--format", format, ref))
	}
	if got := insp("{{.State.Status}}", "web"); got != "running" {
		t.Errorf("State.Status %q", got)
	}
	if got := insp("{{.State.Status}} {{.State.ExitCode}}", "done"); got != "exited 3" {
		t.Errorf("done: %q", got)
	}
	var ns map[string]any
	if err := json.Unmarshal([]byte(insp("{{json .NetworkSettings}}", "web")), &ns); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"IPAddress", "Gateway", "MacAddress", "SandboxKey", "Networks", "Ports"} {
		if _, ok := ns[k]; !ok {
			t.Errorf("NetworkSettings lacks %s: %v", k, ns)
		}
	}
	// The address is the default bridge's (pkg/engine/network).
	if got := insp("{{.NetworkSettings.IPAddress}}|{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}|{{.Platform}}|{{.HostConfig.LogConfig.Type}}", "web"); !strings.HasSuffix(got, "|webdata:/data|linux|json-file") || net.ParseIP(strings.Split(got, "|")[0]) == nil {
		t.Errorf("templates: %q", got)
	}
	driver := insp("{{.GraphDriver.Name}}", "web")
	t.Logf("storage driver %s", driver)
	if want := strings.TrimSpace(d.must("info", "--format", "{{.Driver}}")); driver != want || driver == "" {
		t.Errorf("GraphDriver.Name %q, info's Driver %q", driver, want)
	}
	if driver == "overlayfs" {
		// The upper dir is really the container's writable layer.
		upper := insp("{{.GraphDriver.Data.UpperDir}}", "web")
		eventually(t, "the marker in the upper dir", func() bool {
			b, err := os.ReadFile(filepath.Join(upper, "marker"))
			return err == nil && string(b) == "mark\n"
		})
	}
	if got := insp("{{.SizeRw}}", "web"); got != "<nil>" {
		t.Errorf("SizeRw without -s: %q", got)
	}
	if got := strings.TrimSpace(d.must("inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "web")); len(strings.Fields(got)) != 2 || strings.HasPrefix(got, "<") {
		t.Errorf("inspect -s sizes: %q", got)
	}

	// prune: the stopped ones go, with their snapshots and directories.
	pr := d.must("container", "prune", "-f")
	if !strings.Contains(pr, idle) || !strings.Contains(pr, done) || strings.Contains(pr, web) || !strings.Contains(pr, "Total reclaimed space:") {
		t.Errorf("container prune:\n%s", pr)
	}
	if got := ps("-a", "--format", "{{.Names}}"); got != "web" {
		t.Errorf("after prune: %q", got)
	}
	for _, id := range []string{idle, done} {
		if _, err := os.Stat(filepath.Join(s.root, "eng", "containers", id)); !os.IsNotExist(err) {
			t.Errorf("dir of %s left after prune: %v", id, err)
		}
	}
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	ev := d.must("events", "--since", since, "--until", until, "--filter", "event=rename", "--filter", "event=prune", "--format", "{{.Action}} {{index .Actor.Attributes \"oldName\"}}")
	if !strings.Contains(ev, "rename /idle") || !strings.Contains(ev, "prune") {
		t.Errorf("events:\n%s", ev)
	}
	if _, errOut, err := d.run("events", "--filter", "bogus=1", "--until", until); err == nil || !strings.Contains(errOut, "invalid filter 'bogus'") {
		t.Errorf("events --filter bogus: %v %s", err, errOut)
	}

	// info and version.
	if got := strings.TrimSpace(d.must("info", "--format", "{{.LiveRestoreEnabled}} {{.OSType}} {{.IndexServerAddress}}")); got != "true linux https://index.docker.io/v1/" {
		t.Errorf("info: %q", got)
	}
	// Docker's default seccomp profile is applied; the cgroup namespace is
	// private by default only on a cgroup v2 host.
	secopts := strings.TrimSpace(d.must("info", "--format", "{{json .SecurityOptions}}"))
	want := `["name=seccomp,profile=builtin"]`
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		want = `["name=seccomp,profile=builtin","name=cgroupns"]`
	}
	if secopts != want {
		t.Errorf("SecurityOptions %s, want %s", secopts, want)
	}
	if got := strings.TrimSpace(d.must("version", "--format", "{{.Server.Os}} {{.Server.APIVersion}}")); got != "linux 1.51" {
		t.Errorf("version: %q", got)
	}
	t.Logf("docker version:\n%s", d.must("version"))
	d.must("rm", "-f", "web")
}
