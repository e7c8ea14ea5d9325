package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// The docker CLI's attach, detach, resize, export and exec detach, and a
// container's volumes (made, mounted, unmounted), appear in docker events
// with dockerd's attributes.
func TestEventsMore(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	denv := append(d.env[:len(d.env):len(d.env)], "TERM=xterm")
	since := strconv.FormatInt(time.Now().Unix()-1, 10)

	// An attached run and start -a, with a named and an anonymous volume.
	d.must("run", "--name", "ev1", "-v", "evvol:/data:ro", "-v", "/anon", "busybox", "true")
	d.must("start", "-a", "ev1")
	ev1 := strings.TrimSpace(d.must("inspect", "-f", "{{.Id}}", "ev1"))
	anon := strings.TrimSpace(d.must("inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`, "ev1"))
	d.must("export", "-o", filepath.Join(s.root, "ev1.tar"), "ev1")

	// docker run -it: attached, its terminal's size set; the CLI then
	// detaches by itself (it closes its connection at the keys) and the
	// shell runs on.
	if code := detachedSession(t, denv, d.bin, "run", "-it", "--name", "evt", "busybox", "sh"); code != 0 {
		t.Fatalf("docker run -it detached with exit code %d", code)
	}
	evt := strings.TrimSpace(d.must("inspect", "-f", "{{.Id}} {{.State.Running}}", "evt"))
	evt, running := strings.CutSuffix(evt, " true")
	if !running {
		t.Fatalf("docker run -it: the shell ended at the detach: %s", evt)
	}
	// docker attach exits 1 at a detach ("read escape sequence"), as with
	// dockerd.
	detachedSession(t, denv, d.bin, "attach", "evt")
	// ctl sends the detach keys to the engine, which detaches: the detach
	// and exec_detach events.
	if code := detachedSession(t, s.ctlEnv(), s.ctlPath(), "attach", "evt"); code != 0 {
		t.Fatalf("ctl attach detached with exit code %d", code)
	}
	if code := detachedSession(t, s.ctlEnv(), s.ctlPath(), "exec", "-it", "evt", "sh"); code != 0 {
		t.Fatalf("ctl exec -it detached with exit code %d", code)
	}

	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	got := dockerEvents(t, d, since, until)
	cont := func(id, name string, action events.Action, extra ...string) wantEvent {
		attrs := map[string]string{"name": name, "image": "busybox"}
		for i := 0; i+1 < len(extra); i += 2 {
			attrs[extra[i]] = extra[i+1]
		}
		return wantEvent{events.ContainerEventType, action, id, attrs}
	}
	vol := func(name string, action events.Action, attrs map[string]string) wantEvent {
		return wantEvent{events.VolumeEventType, action, name, attrs}
	}
	local := map[string]string{"driver": "local"}
	for _, w := range []struct {
		wantEvent
		times int
	}{
		{cont(ev1, "ev1", events.ActionAttach), 2},
		{cont(ev1, "ev1", events.ActionExport), 1},
		{cont(evt, "evt", events.ActionAttach), 3},
		{cont(evt, "evt", events.ActionDetach), 1},
		// The CLI sizes the container's terminal as its own at the start
		// (and docker attach nudges it by one and back, to redraw).
		{cont(evt, "evt", events.ActionResize, "height", "30", "width", "90"), -1},
		{vol("evvol", events.ActionCreate, local), 1},
		{vol(anon, events.ActionCreate, local), 1},
		{vol("evvol", events.ActionMount, map[string]string{"container": ev1, "destination": "/data", "driver": "local", "propagation": "", "read/write": "false"}), 2},
		{vol(anon, events.ActionMount, map[string]string{"container": ev1, "destination": "/anon", "driver": "local", "propagation": "", "read/write": "true"}), 2},
		{vol("evvol", events.ActionUnmount, map[string]string{"container": ev1, "driver": "local"}), 2},
		{vol(anon, events.ActionUnmount, map[string]string{"container": ev1, "driver": "local"}), 2},
	} {
		same, other := w.count(got)
		switch {
		case w.times >= 0 && (same != w.times || other != 0):
			t.Errorf("%s %s of %s: %d events with attributes %v and %d with others, want %d", w.typ, w.action, w.id, same, w.attrs, other, w.times)
		case w.times < 0 && same == 0:
			t.Errorf("%s %s of %s: no event with attributes %v", w.typ, w.action, w.id, w.attrs)
		}
	}
	var execDetach int
	for _, m := range got {
		if m.Action == events.ActionExecDetach && m.Actor.ID == evt {
			execDetach++
			if m.Actor.Attributes["execID"] == "" || len(m.Actor.Attributes) != 3 {
				t.Errorf("exec_detach attributes %v", m.Actor.Attributes)
			}
		}
	}
	if execDetach != 1 {
		t.Errorf("%d exec_detach events, want 1", execDetach)
	}
}

// detachedSession runs a command attached to a shell on a 30x90 terminal,
// has the shell answer (the session is up) and types the detach keys; it
// returns the command's exit code.
func detachedSession(t *testing.T, env []string, bin string, args ...string) int {
	t.Helper()
	p := startPty(t, env, 30, 90, bin, args...)
	p.send("echo up-$((40+2))\r")
	p.expect(0, `up-42`)
	p.send("\x10\x11")
	return p.wait()
}

type wantEvent struct {
	typ    events.Type
	action events.Action
	id     string
	attrs  map[string]string
}

// count is how many of got are the event with its attributes (same) and
// with other attributes.
func (w wantEvent) count(got []events.Message) (same, other int) {
	for _, m := range got {
		if m.Type != w.typ || m.Action != w.action || m.Actor.ID != w.id {
			continue
		}
		if maps.Equal(m.Actor.Attributes, w.attrs) {
			same++
		} else {
			other++
		}
	}
	return same, other
}

// dockerEvents reads docker events between since and until as JSON.
func dockerEvents(t *testing.T, d *dockerCLI, since, until string) []events.Message {
	t.Helper()
	raw := strings.TrimSpace(d.must("events", "--since", since, "--until", until, "--format", "{{json .}}"))
	t.Logf("docker events:\n%s", raw)
	var out []events.Message
	for _, line := range strings.Split(raw, "\n") {
		var m events.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(fmt.Errorf("docker events line %q: %w", line, err))
		}
		out = append(out, m)
	}
	return out
}
