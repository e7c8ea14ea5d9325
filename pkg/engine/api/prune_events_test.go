package api

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// A volume prune ends with dockerd's event: no actor, the bytes freed
// (the network prune's, whose networks need the host's, is e2e's).
func TestVolumePruneEvent(t *testing.T) {
	e, vols := newVolEnv(t)
	if resp, body := e.do(t, http.MethodPost, "/volumes/create", `{"Name":"gone"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("volume create: %d %s", resp.StatusCode, body)
	}
	v, err := vols.Get("gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	want := vols.Size("gone")
	if want <= 0 {
		t.Fatalf("volume size %d", want)
	}
	since := time.Now().Add(-time.Second)
	for _, path := range []string{"/volumes/prune?filters=" + `{"all":["true"]}`} {
		if resp, body := e.do(t, http.MethodPost, path, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	_, got, raw := e.pastEvents(t, since, `{"event":["prune"]}`)
	wants := []struct {
		typ   events.Type
		attrs map[string]string
	}{
		{events.VolumeEventType, map[string]string{"reclaimed": strconv.FormatInt(want, 10)}},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d prune events, want %d:\n%s", len(got), len(wants), raw)
	}
	for i, w := range wants {
		if g := got[i]; g.Type != w.typ || g.Action != events.ActionPrune || g.Actor.ID != "" || !maps.Equal(g.Actor.Attributes, w.attrs) {
			t.Errorf("event %d: %+v, want %s prune %v", i, g, w.typ, w.attrs)
		}
	}
}

// Creating a volume that exists answers it and records no second create,
// as dockerd.
func TestVolumeCreateEventOnce(t *testing.T) {
	e, _ := newVolEnv(t)
	since := time.Now().Add(-time.Second)
	for range 2 {
		if resp, body := e.do(t, http.MethodPost, "/volumes/create", `{"Name":"once"}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("volume create: %d %s", resp.StatusCode, body)
		}
	}
	if _, got, raw := e.pastEvents(t, since, `{"type":["volume"]}`); len(got) != 1 || got[0].Action != events.ActionCreate || got[0].Actor.ID != "once" {
		t.Fatalf("volume events:\n%s", raw)
	}
}
