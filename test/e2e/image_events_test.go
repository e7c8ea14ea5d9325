package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestImageEventsDocker: the image (and builder) events of push, pull,
// save, load, import, commit, build and build prune through the docker
// CLI, in the shapes dockerd's image store gives them: pull and push name
// the reference, the others the image's ID, with its labels.
func TestImageEventsDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	reg := startTestRegistry(t, false)
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()) // after the stack's own load
	ref := reg.host + "/ev/busybox:v1"
	s.mustDocker("tag", "busybox", ref)
	s.mustDocker("push", "-q", ref)
	s.mustDocker("rmi", ref)
	s.mustDocker("pull", "-q", ref)
	archive := filepath.Join(t.TempDir(), "bb.tar")
	s.mustDocker("save", "-o", archive, "busybox")
	s.mustDocker("load", "-q", "-i", archive)
	s.mustDocker("run", "--name", "c1", "busybox", "true")
	s.mustDocker("commit", "-c", "LABEL made=commit", "c1", "committed:1")
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nLABEL made=build\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.dockerBuild("-q", "-t", "built:1", ctxDir); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	s.mustDocker("builder", "prune", "-f")
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	out := s.mustDocker("events", "--since", since, "--until", until, "--filter", "type=image", "--filter", "type=builder", "--format", "{{json .}}")

	imgID := strings.TrimSpace(s.mustDocker("image", "inspect", "-f", "{{.Id}}", "busybox"))
	committed := strings.TrimSpace(s.mustDocker("image", "inspect", "-f", "{{.Id}}", "committed:1"))
	built := strings.TrimSpace(s.mustDocker("image", "inspect", "-f", "{{.Id}}", "built:1"))
	famRef := reg.host + "/ev/busybox"
	want := []string{
		"image tag " + imgID + " name=" + ref,
		"image push " + ref + " name=" + famRef,
		"image untag " + imgID + " name=" + imgID,
		"image pull " + ref + " name=" + famRef,
		"image save " + imgID + " name=" + imgID,
		"image load " + imgID + " name=" + imgID,
		"image create " + committed + " made=commit name=" + committed,
		"image tag " + committed + " made=commit name=committed:1",
		"image create " + built + " made=build name=" + built,
		"image tag " + built + " made=build name=built:1",
		"builder prune  reclaimed=",
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type, Action string
			Actor        struct {
				ID         string
				Attributes map[string]string
			}
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k, v := range m.Actor.Attributes {
			if k == "reclaimed" {
				v = "" // a size
			}
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		got = append(got, m.Type+" "+m.Action+" "+m.Actor.ID+" "+strings.Join(keys, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPruneEventsDocker: each prune ends with its type's event, no actor
// and the bytes freed ("0" for networks), as dockerd's.
func TestPruneEventsDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	s.mustDocker("network", "create", "pruned")
	s.mustDocker("volume", "create", "pruned")
	for _, kind := range []string{"container", "network", "volume", "image"} {
		s.mustDocker(kind, "prune", "-f")
	}
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	out := s.mustDocker("events", "--since", since, "--until", until, "--filter", "event=prune", "--format", "{{.Type}} {{.Actor.ID}}|{{len .Actor.Attributes}} {{index .Actor.Attributes \"reclaimed\"}}")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"container", "network", "volume", "image"}
	if len(lines) != len(want) {
		t.Fatalf("prune events:\n%s", out)
	}
	for i, l := range lines {
		typ, rest, _ := strings.Cut(l, " ")
		n, err := strconv.ParseUint(strings.TrimPrefix(rest, "|1 "), 10, 64)
		if typ != want[i] || !strings.HasPrefix(rest, "|1 ") || err != nil || (typ == "network" && n != 0) {
			t.Errorf("prune event %d: %q, want type %s, no actor, reclaimed only", i, l, want[i])
		}
	}
}
