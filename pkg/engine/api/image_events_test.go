package api

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image events as dockerd's image store sends them: tag (the image's ID,
// the new name, the image's labels), untag and delete (the ID as the
// name; delete without labels, the image being gone), prune (no actor,
// the bytes freed).
func TestImageEvents(t *testing.T) {
	e, full := newFullEnv(t)
	id := "sha256:" + strings.Repeat("c", 64)
	full.AddImage("docker.io/library/lab:1", id, &ocispec.Image{Config: ocispec.ImageConfig{Labels: map[string]string{"org.example": "x"}}})
	since := time.Now().Add(-time.Second)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/images/lab:1/tag?repo=mine&tag=2"},
		{http.MethodDelete, "/images/mine:2"},
		{http.MethodDelete, "/images/lab:1"},
		{http.MethodPost, "/images/prune?filters=" + `{"dangling":["false"]}`},
	} {
		if resp, body := e.do(t, c.method, c.path, ""); resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	_, got, raw := e.pastEvents(t, since, `{"type":["image"]}`)
	type ev struct {
		action events.Action
		id     string
		attrs  map[string]string
	}
	labelled := func(name string) map[string]string { return map[string]string{"name": name, "org.example": "x"} }
	want := []ev{
		{events.ActionTag, id, labelled("mine:2")},
		{events.ActionUnTag, id, labelled(id)},
		{events.ActionUnTag, id, labelled(id)},
		{events.ActionDelete, id, map[string]string{"name": id}},
	}
	busybox := "sha256:" + strings.Repeat("b", 64)
	want = append(want,
		ev{events.ActionUnTag, busybox, map[string]string{"name": busybox}},
		ev{events.ActionDelete, busybox, map[string]string{"name": busybox}},
		ev{events.ActionPrune, "", map[string]string{"reclaimed": "0"}},
	)
	if len(got) != len(want) {
		t.Fatalf("got %d image events, want %d:\n%s", len(got), len(want), raw)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != events.ImageEventType || g.Action != w.action || g.Actor.ID != w.id || !maps.Equal(g.Actor.Attributes, w.attrs) || g.Scope != "local" {
			t.Errorf("event %d: %+v, want %s %s %v", i, g, w.action, w.id, w.attrs)
		}
	}
}
