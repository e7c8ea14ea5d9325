package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	imagetypes "github.com/moby/moby/api/types/image"
)

// TestImagesTreeManifests: on one engine, `ctl images --tree` prints what
// `docker images --tree` (docker CLI 28) prints, to the byte, for tagged,
// committed, dangling and in-use images; image inspect with manifests=1
// gives the image list's manifest entry, and nothing without it.
func TestImagesTreeManifests(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	s.loadBusybox()
	d.must("tag", "busybox", "registry.example.com/team/busybox-with-a-long-name:v1.2.3")
	d.must("create", "--name", "user", "busybox", "true")
	d.must("commit", "user", "committed:1")
	d.must("commit", "user") // dangling: shown with -a only

	for _, args := range [][]string{{"images", "--tree"}, {"images", "--tree", "-a"}, {"image", "ls", "--tree", "busybox"}} {
		want := d.must(args...)
		if got := s.mustRun(args...); got != want {
			t.Errorf("ctl %s:\n%s\ndocker's:\n%s", strings.Join(args, " "), got, want)
		}
	}
	tree := d.must("images", "--tree")
	if !strings.Contains(tree, "└─ linux/") || !strings.Contains(tree, "   U    \n") || !strings.Contains(tree, "registry.example.com/team/busybox-with-a-long-name:v1.2.3\nbusybox:latest ") {
		t.Errorf("docker images --tree shows no platform or in-use mark:\n%s", tree)
	}
	for _, flag := range []string{"-q", "--no-trunc", "--digests", "--format=json"} {
		_, want, _ := d.run("images", "--tree", flag)
		if _, got, code := s.run("images", "--tree", flag); code != 1 || got != want {
			t.Errorf("ctl images --tree %s: %d %q, docker's %q", flag, code, got, want)
		}
	}

	code, body := s.http("GET", "/images/json?manifests=1&filters="+`%7B%22reference%22%3A%7B%22busybox%22%3Atrue%7D%7D`, "", nil)
	var list []imagetypes.Summary
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 1 || len(list[0].Manifests) != 1 {
		t.Fatalf("image list with manifests: %d %v %s", code, err, body)
	}
	code, body = s.http("GET", "/images/busybox/json?manifests=1", "", nil)
	var inspect imagetypes.InspectResponse
	if err := json.Unmarshal([]byte(body), &inspect); code != 200 || err != nil {
		t.Fatalf("inspect with manifests: %d %v %s", code, err, body)
	}
	got, _ := json.Marshal(inspect.Manifests)
	want, _ := json.Marshal(list[0].Manifests)
	if string(got) != string(want) {
		t.Errorf("inspect's manifests:\n%s\nthe list's:\n%s", got, want)
	}
	m := inspect.Manifests[0]
	var user struct{ Id string }
	_ = json.Unmarshal([]byte(d.must("container", "inspect", "--format", "{{json .}}", "user")), &user)
	if m.Kind != imagetypes.ManifestKindImage || !m.Available || m.ImageData == nil || len(m.ImageData.Containers) != 1 || m.ImageData.Containers[0] != user.Id || m.Size.Content <= 0 || m.Size.Total <= m.Size.Content {
		t.Errorf("busybox's manifest: %s", got)
	}
	// Not asked (docker image inspect never asks), or asked by a client
	// older than API 1.48: no Manifests key.
	if out := d.must("image", "inspect", "busybox"); strings.Contains(out, `"Manifests"`) {
		t.Errorf("docker image inspect: %s", out)
	}
	if code, body := s.http("GET", "/v1.47/images/busybox/json?manifests=1", "", nil); code != 200 || strings.Contains(body, `"Manifests"`) {
		t.Errorf("inspect at API 1.47: %d %s", code, body)
	}
}
