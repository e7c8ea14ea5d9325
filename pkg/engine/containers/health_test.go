package containers_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

// healthEnv is a daemon on the fake supervisor, with the busybox image
// and "hcimage", whose HEALTHCHECK is CMD-SHELL image-check every hour,
// 7 retries.
type healthEnv struct {
	t   *testing.T
	dir string
	sup *containerstest.Supervisor
	d   *containers.Daemon
}

const hcImageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func newHealthEnv(t *testing.T) *healthEnv {
	t.Helper()
	e := &healthEnv{t: t, dir: t.TempDir(), sup: containerstest.New()}
	e.sup.AddImage("docker.io/library/hcimage:latest", hcImageDigest, &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sleep"}, Env: []string{"FROM_IMAGE=1"}}})
	e.sup.SetImageHealthcheck(hcImageDigest, &container.HealthConfig{Test: []string{"CMD-SHELL", "image-check"}, Interval: time.Hour, Retries: 7})
	e.open()
	t.Cleanup(func() { e.d.Close() })
	return e
}

func (e *healthEnv) open() {
	e.t.Helper()
	d, err := containers.New(context.Background(), e.sup, e.dir, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.d = d
}

func (e *healthEnv) run(image string, hc *container.HealthConfig) string {
	e.t.Helper()
	c, err := e.d.Create(context.Background(), containers.CreateOptions{Config: &container.Config{Image: image, Cmd: []string{"sleep"}, Healthcheck: hc}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.d.Start(context.Background(), c.ID); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *healthEnv) state(id string) containers.State {
	e.t.Helper()
	c, err := e.d.Inspect(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.State
}

// waitHealth waits until cond holds for the container's health.
func (e *healthEnv) waitHealth(id, what string, cond func(h *container.Health) bool) *container.Health {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := e.state(id).Health
		if h != nil && cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; health %+v", what, h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(s container.HealthStatus) func(*container.Health) bool {
	return func(h *container.Health) bool { return h.Status == s }
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dockerd's messages for bad values, before anything is made.
func TestHealthcheckValidation(t *testing.T) {
	e := newHealthEnv(t)
	for _, tc := range []struct {
		hc   container.HealthConfig
		want string
	}{
		{container.HealthConfig{Interval: time.Microsecond}, "Interval in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Timeout: 999 * time.Microsecond}, "Timeout in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Interval: -time.Second}, "Interval in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Retries: -1}, "Retries in Healthcheck cannot be negative"},
		{container.HealthConfig{StartPeriod: time.Nanosecond}, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{StartInterval: time.Nanosecond}, "StartInterval in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Test: []string{"CMDX", "true"}}, `unknown type "CMDX" in Healthcheck.Test (expected CMD, CMD-SHELL or NONE)`},
	} {
		hc := tc.hc
		_, err := e.d.Create(context.Background(), containers.CreateOptions{Name: "bad", Config: &container.Config{Image: "busybox", Healthcheck: &hc}})
		if !errdefs.IsInvalidArgument(err) || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.hc, err, tc.want)
		}
	}
	if n := len(e.d.List(true, 0)); n != 0 {
		t.Errorf("%d containers left", n)
	}
	if ids, _ := e.sup.ListContainers(context.Background()); len(ids) != 0 {
		t.Errorf("supervisor containers left: %v", ids)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "containers")); len(ents) != 0 {
		t.Errorf("engine dirs left: %v", ents)
	}
	// The name was not taken by the failures.
	ok := container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Millisecond, Timeout: time.Millisecond, StartPeriod: time.Millisecond, StartInterval: time.Millisecond}
	if _, err := e.d.Create(context.Background(), containers.CreateOptions{Name: "bad", Config: &container.Config{Image: "busybox", Healthcheck: &ok}}); err != nil {
		t.Errorf("valid check: %v", err)
	}
}

// The request's check merged with the image's, as dockerd merges them.
func TestHealthcheckMergeWithImage(t *testing.T) {
	img := &container.HealthConfig{Test: []string{"CMD-SHELL", "image-check"}, Interval: time.Hour, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 7}
	for _, tc := range []struct {
		name     string
		req, img *container.HealthConfig
		want     *container.HealthConfig
	}{
		{"none at all", nil, nil, nil},
		{"request only", &container.HealthConfig{Test: []string{"CMD", "x"}}, nil, &container.HealthConfig{Test: []string{"CMD", "x"}}},
		{"image only", nil, img, img},
		{"zero fields inherit", &container.HealthConfig{Interval: time.Second, Retries: 2}, img,
			&container.HealthConfig{Test: img.Test, Interval: time.Second, Timeout: img.Timeout, StartPeriod: img.StartPeriod, StartInterval: img.StartInterval, Retries: 2}},
		{"NONE disables", &container.HealthConfig{Test: []string{"NONE"}}, img,
			&container.HealthConfig{Test: []string{"NONE"}, Interval: img.Interval, Timeout: img.Timeout, StartPeriod: img.StartPeriod, StartInterval: img.StartInterval, Retries: img.Retries}},
	} {
		var req *container.HealthConfig
		if tc.req != nil {
			r := *tc.req
			req = &r
		}
		got := containers.MergeHealthcheck(req, tc.img)
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(tc.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: %s, want %s", tc.name, gotJSON, wantJSON)
		}
		if tc.req != nil && req.Test != nil && !slices.Equal(req.Test, tc.req.Test) || tc.req != nil && req.Interval != tc.req.Interval {
			t.Errorf("%s: the request was modified", tc.name)
		}
	}

	// Through create: the stored Config is the merged one, and it is what runs.
	e := newHealthEnv(t)
	e.sup.ScriptExec("/bin/sh -c image-check", containerstest.ExecScript{Code: 0, Output: "from the image's check\n"})
	id := e.run("hcimage", &container.HealthConfig{Interval: 5 * time.Millisecond})
	c, _ := e.d.Inspect(context.Background(), id)
	if hc := c.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "image-check"}) || hc.Interval != 5*time.Millisecond || hc.Retries != 7 {
		t.Errorf("merged check %+v", c.Config.Healthcheck)
	}
	h := e.waitHealth(id, "healthy from the image's check", status(container.Healthy))
	if h.Log[0].Output != "from the image's check\n" {
		t.Errorf("log %+v", h.Log[0])
	}
	// --no-healthcheck: no health, no probe, ps shows no health.
	none := e.run("hcimage", &container.HealthConfig{Test: []string{"NONE"}})
	if st := e.state(none); st.Health != nil || st.HealthStatus() != container.NoHealthcheck || st.HealthString() != "" || e.d.HealthMonitorRunning(none) {
		t.Errorf("NONE: %+v", st.Health)
	}
	// No check in the image nor the request.
	plain := e.run("busybox", nil)
	if st := e.state(plain); st.Health != nil || e.d.HealthMonitorRunning(plain) {
		t.Errorf("no check: %+v", st.Health)
	}
	for _, p := range e.sup.ExecSpecs() {
		if !slices.Equal(p.Args, []string{"/bin/sh", "-c", "image-check"}) {
			t.Errorf("unexpected exec %v", p.Args)
		}
	}
}

// settled waits until the probe cmd of the container hangs (its script's
// last step) after n results of its script: from then on the container's
// health does not change. (The monitor records a result before it starts
// the next probe.)
func (e *healthEnv) settled(id, cmd string, n int) *container.Health {
	e.t.Helper()
	eventually(e.t, "the probe to settle", func() bool { return e.sup.ScriptRuns(cmd) == n+1 })
	return e.state(id).Health
}

var (
	fail = containerstest.ExecScript{Code: 1, Output: "not yet\n"}
	pass = containerstest.ExecScript{Code: 0}
	hang = containerstest.ExecScript{Hang: true}
)

// starting → unhealthy after retries failures → healthy at a success, with
// the log of the last five, events at each change, the change persisted;
// CMD runs its args, CMD-SHELL /bin/sh -c (or the container's Shell), as
// the container's user with its env. Each probe's script ends hanging
// (with an hour's timeout), so that the state is looked at when settled.
func TestHealthStateMachine(t *testing.T) {
	e := newHealthEnv(t)
	_, evs, cancel := e.d.SubscribeEvents()
	defer cancel()
	check := func(name string, script ...containerstest.ExecScript) string {
		e.sup.ScriptExec("/bin/sh -c "+name, script...)
		return e.run("hcimage", &container.HealthConfig{Test: []string{"CMD-SHELL", name}, Interval: 5 * time.Millisecond, Timeout: time.Hour, Retries: 2})
	}

	one := check("one", fail, hang)
	if h := e.settled(one, "/bin/sh -c one", 1); h.Status != container.Starting || h.FailingStreak != 1 || e.state(one).HealthString() != "health: starting" {
		t.Errorf("after a failure of two: %+v", h)
	}
	two := check("two", fail, fail, hang)
	if h := e.settled(two, "/bin/sh -c two", 2); h.Status != container.Unhealthy || h.FailingStreak != 2 || e.state(two).HealthString() != "unhealthy" {
		t.Errorf("after two failures of two: %+v", h)
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, "containers", two, "config.v2.json"))
	if err != nil || !strings.Contains(string(raw), `"Status":"unhealthy"`) {
		t.Errorf("unhealthy not persisted: %v", err)
	}
	seven := check("seven", fail, fail, fail, fail, fail, fail, fail, hang)
	h := e.settled(seven, "/bin/sh -c seven", 7)
	if h.Status != container.Unhealthy || h.FailingStreak != 7 || len(h.Log) != 5 {
		t.Errorf("after seven failures: %s, streak %d, log of %d", h.Status, h.FailingStreak, len(h.Log))
	}
	for _, r := range h.Log {
		if r.ExitCode != 1 || r.Output != "not yet\n" || r.Start.IsZero() || r.End.Before(r.Start) {
			t.Errorf("result %+v", r)
		}
	}
	back := check("back", fail, fail, pass, hang)
	h = e.settled(back, "/bin/sh -c back", 3)
	if h.Status != container.Healthy || h.FailingStreak != 0 || h.Log[2].ExitCode != 0 {
		t.Errorf("healthy again: %+v", h)
	}
	if s := e.state(back); s.HealthStatus() != container.Healthy || s.HealthString() != "healthy" {
		t.Errorf("status strings %s %q", s.HealthStatus(), s.HealthString())
	}
	var actions []string
	deadline := time.After(10 * time.Second)
	for len(actions) < 2 {
		select {
		case m := <-evs:
			if strings.HasPrefix(string(m.Action), "health_status") && m.Actor.ID == back {
				if m.Actor.Attributes["image"] != "hcimage" {
					t.Errorf("event %+v", m)
				}
				actions = append(actions, string(m.Action))
			}
		case <-deadline:
			t.Fatalf("health events so far %v", actions)
		}
	}
	if actions[0] != string(events.ActionHealthStatusUnhealthy) || actions[1] != string(events.ActionHealthStatusHealthy) {
		t.Errorf("events %v", actions)
	}

	// The probe runs as the container's process does: its user, env, cwd.
	spec := e.sup.ExecSpecs()[0]
	if !slices.Equal(spec.Args, []string{"/bin/sh", "-c", "one"}) || !slices.Contains(spec.Env, "FROM_IMAGE=1") || spec.Terminal {
		t.Errorf("probe process %+v", spec)
	}

	// CMD: the args themselves; CMD-SHELL with the container's Shell.
	e.sup.ScriptExec("probe a b", pass)
	cmd := e.run("busybox", &container.HealthConfig{Test: []string{"CMD", "probe", "a", "b"}, Interval: 5 * time.Millisecond})
	e.waitHealth(cmd, "CMD healthy", status(container.Healthy))
	c, err := e.d.Create(context.Background(), containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}, Shell: []string{"/bin/ash", "-e", "-c"},
		Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "ok"}, Interval: 5 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	e.sup.ScriptExec("/bin/ash -e -c ok", pass)
	if err := e.d.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	e.waitHealth(c.ID, "Shell healthy", status(container.Healthy))
	// A command that cannot run is a failure with the error as output.
	missing := e.run("busybox", &container.HealthConfig{Test: []string{"CMD"}, Interval: 5 * time.Millisecond, Retries: 1})
	h = e.waitHealth(missing, "a check without a command failing", status(container.Unhealthy))
	if r := h.Log[0]; r.ExitCode != -1 || r.Output != "healthcheck for container "+missing+" has no command" {
		t.Errorf("no command: %+v", r)
	}
}

// A probe over its timeout is killed: exit -1 and dockerd's message with
// the output so far; output is cut at 4096 bytes.
func TestHealthTimeoutAndOutputLimit(t *testing.T) {
	e := newHealthEnv(t)
	e.sup.ScriptExec("/bin/sh -c hang", containerstest.ExecScript{Hang: true, Output: "partial"})
	id := e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "hang"}, Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, Retries: 2})
	h := e.waitHealth(id, "unhealthy by timeouts", status(container.Unhealthy))
	for _, r := range h.Log {
		if r.ExitCode != -1 || r.Output != "Health check exceeded timeout (20ms): partial" {
			t.Errorf("timeout result %+v", r)
		}
	}
	// Killed probes are deleted: never more than the one in flight.
	for i := 0; i < 20; i++ {
		if n := e.sup.LiveExecs(id); n > 1 {
			t.Fatalf("%d probe processes alive", n)
		}
		time.Sleep(5 * time.Millisecond)
	}

	big := strings.Repeat("x", 5000)
	e.sup.ScriptExec("/bin/sh -c big", containerstest.ExecScript{Code: 3, Output: big})
	id = e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "big"}, Interval: 5 * time.Millisecond, Retries: 1})
	h = e.waitHealth(id, "unhealthy with a big output", status(container.Unhealthy))
	if r := h.Log[0]; r.ExitCode != 3 || r.Output != big[:4096]+"..." {
		t.Errorf("big output: exit %d, %d bytes", r.ExitCode, len(r.Output))
	}
}

// Failures within the start period do not count while starting; a success
// ends it; the start interval is used meanwhile.
func TestHealthStartPeriod(t *testing.T) {
	e := newHealthEnv(t)
	e.sup.ScriptExec("/bin/sh -c sp", containerstest.ExecScript{Code: 1})
	// An interval of an hour: only the start interval can run the probes.
	id := e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "sp"}, Interval: time.Hour, StartPeriod: time.Hour, StartInterval: 5 * time.Millisecond, Retries: 1})
	h := e.waitHealth(id, "failures in the start period", func(h *container.Health) bool { return len(h.Log) >= 3 })
	if h.Status != container.Starting || h.FailingStreak != 0 {
		t.Errorf("in the start period: %s, streak %d", h.Status, h.FailingStreak)
	}

	// Two failures (not counted), a success (the start period ends), a
	// failure (counted: one of one).
	e.sup.ScriptExec("/bin/sh -c sp2", fail, fail, pass, fail, hang)
	id = e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "sp2"}, Interval: 5 * time.Millisecond, Timeout: time.Hour, StartPeriod: time.Hour, StartInterval: 5 * time.Millisecond, Retries: 1})
	h = e.settled(id, "/bin/sh -c sp2", 4)
	if h.Status != container.Unhealthy || h.FailingStreak != 1 {
		t.Errorf("after the start period: %s, streak %d", h.Status, h.FailingStreak)
	}
	e.sup.ScriptExec("/bin/sh -c sp3", fail, fail, hang)
	id = e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "sp3"}, Interval: 5 * time.Millisecond, Timeout: time.Hour, StartPeriod: time.Hour, StartInterval: 5 * time.Millisecond, Retries: 1})
	if h := e.settled(id, "/bin/sh -c sp3", 2); h.Status != container.Starting || h.FailingStreak != 0 {
		t.Errorf("in the start period: %s, streak %d", h.Status, h.FailingStreak)
	}
}

// The monitor runs only while the container runs unpaused: pause, stop and
// remove end it (and its probe), unpause and start bring it back; nothing
// is left behind: no probe process, no goroutine.
func TestHealthLifecycleLeaksNothing(t *testing.T) {
	baseline := runtime.NumGoroutine()
	e := newHealthEnv(t)
	ctx := context.Background()
	e.sup.ScriptExec("/bin/sh -c ok", pass)
	id := e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", "ok"}, Interval: 5 * time.Millisecond, Timeout: time.Hour})
	e.waitHealth(id, "healthy", status(container.Healthy))

	// Paused with a probe in flight: the probe is killed and deleted.
	e.sup.ScriptExec("/bin/sh -c ok", hang)
	eventually(t, "a probe in flight", func() bool { return e.sup.LiveExecs(id) == 1 })
	if err := e.d.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e.d.HealthMonitorRunning(id) {
		t.Error("monitor runs while paused")
	}
	if h := e.state(id).Health; h.Status != container.Unhealthy {
		t.Errorf("paused: %s, want unhealthy as dockerd", h.Status)
	}
	eventually(t, "no probe while paused", func() bool { return e.sup.LiveExecs(id) == 0 })
	e.sup.ScriptExec("/bin/sh -c ok", pass)
	if err := e.d.Unpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !e.d.HealthMonitorRunning(id) {
		t.Error("monitor not back after unpause")
	}
	e.waitHealth(id, "healthy after unpause", status(container.Healthy))

	// Stopped with a probe in flight: the probe is killed and deleted.
	e.sup.ScriptExec("/bin/sh -c ok", hang)
	eventually(t, "a probe in flight", func() bool { return e.sup.LiveExecs(id) == 1 })
	zero := 0
	if err := e.d.Stop(ctx, id, containers.StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	if e.d.HealthMonitorRunning(id) {
		t.Error("monitor runs after stop")
	}
	st := e.state(id)
	if st.Health == nil || st.Health.Status != container.Unhealthy || st.HealthString() != "unhealthy" {
		t.Errorf("stopped: %+v", st.Health)
	}
	logLen := len(st.Health.Log)

	// Started again: starting, the log kept, the monitor back (its probe
	// hangs: no result changes the state under the test's eyes).
	if err := e.d.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := e.state(id); st.Health.Status != container.Starting || st.Health.FailingStreak != 0 || len(st.Health.Log) != logLen || st.HealthString() != "health: starting" {
		t.Errorf("restarted: %+v", st.Health)
	}
	eventually(t, "a probe in flight", func() bool { return e.sup.LiveExecs(id) == 1 })
	if err := e.d.Remove(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Get(id); !errdefs.IsNotFound(err) {
		t.Fatalf("removed: %v", err)
	}
	e.d.Close()
	eventually(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= baseline })
}

// After an engine restart, a running container's check starts again (from
// starting); a paused one's only at its unpause. A probe in flight at the
// shutdown is killed.
func TestHealthAcrossEngineRestart(t *testing.T) {
	e := newHealthEnv(t)
	ctx := context.Background()
	e.sup.ScriptExec("/bin/sh -c ok", pass)
	e.sup.ScriptExec("/bin/sh -c ok2", pass)
	e.sup.ScriptExec("/bin/sh -c slow", hang)
	mk := func(cmd string) string {
		return e.run("busybox", &container.HealthConfig{Test: []string{"CMD-SHELL", cmd}, Interval: 5 * time.Millisecond, Timeout: time.Hour})
	}
	running, paused, slow := mk("ok"), mk("ok2"), mk("slow")
	e.waitHealth(running, "healthy", status(container.Healthy))
	e.waitHealth(paused, "healthy", status(container.Healthy))
	eventually(t, "a probe in flight", func() bool { return e.sup.LiveExecs(slow) == 1 })
	if err := e.d.Pause(ctx, paused); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	if n := e.sup.LiveExecs(slow); n != 0 {
		t.Errorf("%d probes left after the engine stopped", n)
	}
	e.sup.ScriptExec("/bin/sh -c ok", fail, hang)
	e.sup.ScriptExec("/bin/sh -c ok2", fail, hang)
	e.open()
	if h := e.state(running).Health; h == nil || h.Status != container.Starting || !e.d.HealthMonitorRunning(running) {
		t.Errorf("running after restart: %+v", h)
	}
	if h := e.settled(running, "/bin/sh -c ok", 1); h.FailingStreak != 1 || h.Status != container.Starting {
		t.Errorf("the check after restart: %+v", h)
	}
	if e.d.HealthMonitorRunning(paused) || e.sup.LiveExecs(paused) != 0 {
		t.Error("a paused container's check runs after restart")
	}
	if err := e.d.Unpause(ctx, paused); err != nil {
		t.Fatal(err)
	}
	if h := e.settled(paused, "/bin/sh -c ok2", 1); h.FailingStreak != 1 {
		t.Errorf("the unpaused container's check: %+v", h)
	}
}
