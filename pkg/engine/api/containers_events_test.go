package api

import (
	"context"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// wantEvents checks that each wanted event was recorded once with
// exactly the attributes dockerd gives it.
func wantEvents(t *testing.T, got []events.Message, want ...events.Message) {
	t.Helper()
	for _, w := range want {
		n := 0
		for _, m := range got {
			if m.Type != w.Type || m.Action != w.Action || m.Actor.ID != w.Actor.ID {
				continue
			}
			n++
			if !maps.Equal(m.Actor.Attributes, w.Actor.Attributes) {
				t.Errorf("%s %s: attributes %v, want %v", w.Type, w.Action, m.Actor.Attributes, w.Actor.Attributes)
			}
		}
		if n != 1 {
			t.Errorf("%s %s of %s recorded %d times, want once", w.Type, w.Action, w.Actor.ID, n)
		}
	}
}

func containerEvent(id string, action events.Action, attrs map[string]string) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}}
}

// attach at an attach, detach at the detach keys, resize with the size,
// as dockerd records them.
func TestEventsAttachDetachResize(t *testing.T) {
	e, _ := newFullEnv(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	id := e.named(t, "tty1", &container.Config{Cmd: []string{"cat"}, Tty: true, OpenStdin: true, Labels: map[string]string{"l": "v"}})
	e.startC(t, id)
	att := ttyAttach(t, e, id)
	defer att.Close()
	att.Conn.Write([]byte("\x10\x11"))
	io.ReadAll(att.Reader)
	if _, err := e.cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: 40, Width: 100}); err != nil {
		t.Fatal(err)
	}
	_, got, _ := e.pastEvents(t, since, "")
	base := map[string]string{"name": "tty1", "image": "busybox", "l": "v"}
	wantEvents(t, got,
		containerEvent(id, events.ActionAttach, base),
		containerEvent(id, events.ActionDetach, base),
		containerEvent(id, events.ActionResize, with(base, "height", "40", "width", "100")),
	)
}

// with is attrs and the key/value pairs kv.
func with(attrs map[string]string, kv ...string) map[string]string {
	out := maps.Clone(attrs)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// An exec's detach keys are its exec_detach, with its execID.
func TestEventsExecDetach(t *testing.T) {
	e, _ := newFullEnv(t)
	since := time.Now().Add(-time.Second)
	id := e.named(t, "ex1", &container.Config{Cmd: []string{"sleep"}})
	e.startC(t, id)
	execID, att := ttyExec(t, e, id)
	defer att.Close()
	att.Conn.Write([]byte("\x10\x11"))
	io.ReadAll(att.Reader)
	_, got, _ := e.pastEvents(t, since, "")
	wantEvents(t, got, containerEvent(id, events.ActionExecDetach, map[string]string{"name": "ex1", "image": "busybox", "execID": execID}))
}

// A whole export is recorded; a failed one is not.
func TestEventsExport(t *testing.T) {
	e, full := newFullEnv(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	id := e.named(t, "exp1", &container.Config{Cmd: []string{"echo"}})
	full.Files[id] = map[string]string{"etc/x": "y"}
	ex, err := e.cl.ContainerExport(ctx, "exp1", client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readTar(t, ex)
	ex.Close()
	if resp, _ := e.do(t, "GET", "/containers/nosuch/export", ""); resp.StatusCode != 404 {
		t.Errorf("export of a missing container: %d", resp.StatusCode)
	}
	_, got, _ := e.pastEvents(t, since, "")
	wantEvents(t, got, containerEvent(id, events.ActionExport, map[string]string{"name": "exp1", "image": "busybox"}))
	for _, m := range got {
		if m.Action == events.ActionExport && m.Actor.ID != id {
			t.Errorf("export event of a failed export: %+v", m)
		}
	}
}

// Volumes a container makes are created; its start mounts them and its
// exit unmounts them, with dockerd's attributes.
func TestEventsVolumeMount(t *testing.T) {
	e, _ := newVolEnv(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	id := e.create(t, &container.Config{Cmd: []string{"echo"}, Volumes: map[string]struct{}{"/anon": {}}}, &container.HostConfig{Binds: []string{"named1:/data:ro"}})
	var anon string
	for _, m := range e.inspect(t, id).Mounts {
		if m.Destination == "/anon" {
			anon = m.Name
		}
	}
	wait := e.cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	e.startC(t, id)
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		t.Fatal(err)
	}
	_, got, _ := e.pastEvents(t, since, "")
	vol := func(name string, action events.Action, attrs map[string]string) events.Message {
		return events.Message{Type: events.VolumeEventType, Action: action, Actor: events.Actor{ID: name, Attributes: attrs}}
	}
	local := map[string]string{"driver": "local"}
	wantEvents(t, got,
		vol("named1", events.ActionCreate, local),
		vol(anon, events.ActionCreate, local),
		vol("named1", events.ActionMount, map[string]string{"container": id, "destination": "/data", "driver": "local", "propagation": "", "read/write": "false"}),
		vol(anon, events.ActionMount, map[string]string{"container": id, "destination": "/anon", "driver": "local", "propagation": "", "read/write": "true"}),
		vol("named1", events.ActionUnmount, map[string]string{"container": id, "driver": "local"}),
		vol(anon, events.ActionUnmount, map[string]string{"container": id, "driver": "local"}),
	)
	// A second container on the volume makes none.
	e.create(t, &container.Config{Cmd: []string{"echo"}}, &container.HostConfig{Binds: []string{"named1:/data"}})
	_, got, _ = e.pastEvents(t, since, "")
	wantEvents(t, got, vol("named1", events.ActionCreate, local))
}
