package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/test/image"
)

// writeImageWithHealthcheck writes busybox as ref with a HEALTHCHECK in its
// config, as `docker build` records one.
func writeImageWithHealthcheck(t *testing.T, path, ref string, hc map[string]any) {
	t.Helper()
	img, err := image.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["config"].(map[string]any)["Healthcheck"] = hc
	if img.Config, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	img.ConfigID = digest.FromBytes(img.Config)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := img.WriteDockerArchiveTo(f, ref); err != nil {
		t.Fatal(err)
	}
}

// Health checks through the docker CLI: a failing check turns the container
// unhealthy, fixing what it tests turns it healthy (ps, inspect, events);
// a probe over its timeout is killed; pause and an engine restart stop and
// resume the checks; --no-healthcheck disables an image's HEALTHCHECK.
func TestEngineHealthcheck(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	d := newDockerCLI(t, s)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	health := func(name string) string {
		return strings.TrimSpace(d.must("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", name))
	}
	waitHealth := func(name, want string) {
		t.Helper()
		eventually(t, name+" "+want, func() bool { return health(name) == want })
	}
	psStatus := func(name string) string {
		return strings.TrimSpace(d.must("ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.Status}}"))
	}

	d.must("run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "60")
	waitHealth("hc", "unhealthy")
	var h struct {
		Status        string
		FailingStreak int
		Log           []struct {
			ExitCode int
			Output   string
			Start    time.Time
			End      time.Time
		}
	}
	if err := json.Unmarshal([]byte(d.must("inspect", "-f", "{{json .State.Health}}", "hc")), &h); err != nil {
		t.Fatal(err)
	}
	if h.FailingStreak < 2 || len(h.Log) < 2 || h.Log[0].ExitCode != 1 || h.Log[0].End.Before(h.Log[0].Start) {
		t.Errorf("unhealthy state %+v", h)
	}
	if st := psStatus("hc"); !strings.HasPrefix(st, "Up ") || !strings.HasSuffix(st, " (unhealthy)") {
		t.Errorf("ps status %q", st)
	}
	d.must("exec", "hc", "touch", "/tmp/ok")
	waitHealth("hc", "healthy")
	if st := psStatus("hc"); !strings.HasPrefix(st, "Up ") || !strings.HasSuffix(st, " (healthy)") {
		t.Errorf("ps status %q", st)
	}
	if names := strings.TrimSpace(d.must("ps", "--filter", "health=healthy", "--format", "{{.Names}}")); names != "hc" {
		t.Errorf("ps --filter health=healthy: %q", names)
	}
	ev := d.must("events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "event=health_status", "--filter", "container=hc")
	t.Logf("events:\n%s", ev)
	unhealthyAt, healthyAt := strings.Index(ev, "health_status: unhealthy"), strings.Index(ev, "health_status: healthy")
	if unhealthyAt < 0 || healthyAt < unhealthyAt || strings.Contains(ev, "exec_") {
		t.Errorf("health_status events:\n%s", ev)
	}

	// Probes are execs, with dockerd's exec events.
	ev = d.must("events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "container=hc", "--filter", "event=exec_create", "--filter", "event=exec_die")
	if !strings.Contains(ev, "exec_create: /bin/sh -c test -f /tmp/ok") || !strings.Contains(ev, "exitCode=1") || !strings.Contains(ev, "exitCode=0") {
		t.Errorf("exec events of the probes:\n%s", ev)
	}

	// Paused: no probe, unhealthy as dockerd says; unpaused: checked again.
	d.must("pause", "hc")
	if st := health("hc"); st != "unhealthy" {
		t.Errorf("paused: %s", st)
	}
	d.must("unpause", "hc")
	waitHealth("hc", "healthy")

	// An engine restart: the check runs again for the running container.
	s.kill9(s.engine)
	s.startEngine()
	d.must("exec", "hc", "rm", "/tmp/ok")
	waitHealth("hc", "unhealthy")
	d.must("exec", "hc", "touch", "/tmp/ok")
	waitHealth("hc", "healthy")

	// The probe runs as the container's process: its user, env and cwd.
	d.must("run", "-d", "--name", "asuser", "-u", "1000:1001", "-e", "HC=yes", "-w", "/tmp", "--health-cmd", `test "$(id -u):$(id -g) $HC $PWD" = "1000:1001 yes /tmp"`, "--health-interval", "500ms", "--health-retries", "1", "busybox", "sleep", "60")
	waitHealth("asuser", "healthy")

	// ctl's flags do the same.
	s.mustRun("run", "-d", "--name", "viactl", "--health-cmd", "test -d /tmp", "--health-interval", "500ms", "busybox", "sleep", "60")
	eventually(t, "viactl healthy", func() bool { return s.inspectField("viactl", "{{.State.Health.Status}}") == "healthy" })
	if ps := s.mustRun("ps", "--filter", "name=viactl"); !strings.Contains(ps, "(healthy)") {
		t.Errorf("ctl ps:\n%s", ps)
	}

	// A probe over its timeout is killed: no probe piles up in the container.
	d.must("run", "-d", "--name", "slow", "--health-cmd", "echo begun; sleep 30", "--health-interval", "200ms", "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "60")
	waitHealth("slow", "unhealthy")
	eventually(t, "a few timed out probes", func() bool {
		return strings.Count(d.must("inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}|{{end}}", "slow"), "-1 Health check exceeded timeout (300ms): begun\n|") >= 3
	})
	t.Logf("health of slow: %s", d.must("inspect", "-f", "{{json .State.Health}}", "slow"))
	if n := strings.Count(d.must("top", "slow"), "sleep 30"); n > 1 {
		t.Errorf("%d probes running in the container:\n%s", n, d.must("top", "slow"))
	}

	// An image's HEALTHCHECK applies; --no-healthcheck disables it.
	tarPath := filepath.Join(s.root, "hc.tar")
	writeImageWithHealthcheck(t, tarPath, "hcbusybox:latest", map[string]any{"Test": []string{"CMD-SHELL", "true"}, "Interval": int64(time.Second)})
	d.must("load", "-i", tarPath)
	if hc := strings.TrimSpace(d.must("image", "inspect", "-f", "{{json .Config.Healthcheck}}", "hcbusybox")); hc != `{"Test":["CMD-SHELL","true"],"Interval":1000000000}` {
		t.Errorf("image inspect: Healthcheck %s", hc)
	}
	d.must("create", "--name", "dflt", "hcbusybox")
	if path := strings.TrimSpace(d.must("inspect", "-f", "{{.Path}} {{.Config.Env}}", "dflt")); !strings.HasPrefix(path, "sh [PATH=") {
		t.Errorf("the image's OCI config (Cmd, Env) beside its HEALTHCHECK: %s", path)
	}
	d.must("rm", "dflt")
	d.must("run", "-d", "--name", "fromimage", "hcbusybox", "sleep", "60")
	waitHealth("fromimage", "healthy")
	if test := strings.TrimSpace(d.must("inspect", "-f", "{{json .Config.Healthcheck.Test}}", "fromimage")); test != `["CMD-SHELL","true"]` {
		t.Errorf("merged check %s", test)
	}
	d.must("run", "-d", "--name", "nohc", "--no-healthcheck", "hcbusybox", "sleep", "60")
	if out := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Health}} {{json .Config.Healthcheck.Test}}", "nohc")); out != `<nil> ["NONE"]` {
		t.Errorf("--no-healthcheck: %s", out)
	}
	if st := psStatus("nohc"); !strings.HasPrefix(st, "Up ") || strings.Contains(st, "(") {
		t.Errorf("--no-healthcheck ps status %q", st)
	}

	// Stopped: no health in ps's status, unhealthy in inspect (as dockerd); a
	// bad check is refused.
	d.must("stop", "-t", "0", "hc")
	if st := psStatus("hc"); !strings.HasPrefix(st, "Exited (137)") {
		t.Errorf("stopped ps status %q", st)
	}
	if st := health("hc"); st != "unhealthy" {
		t.Errorf("stopped: health %s, want unhealthy as dockerd", st)
	}
	// (The docker CLI checks its flags itself: a request shows the engine's.)
	if code, body := s.http("POST", "/containers/create", "application/json", []byte(`{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":1000}}`)); code != 400 || !strings.Contains(body, "Interval in Healthcheck cannot be less than 1ms") {
		t.Errorf("interval below 1ms: %d %s", code, body)
	}
	if out := strings.Fields(d.must("ps", "-aq")); len(out) != 6 {
		t.Errorf("containers after the refused create: %v", out)
	}
}
