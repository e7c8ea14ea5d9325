package e2e

import (
	"strings"
	"testing"
)

// TestMovedTagKeepsDanglingImage: as dockerd, the image a tag leaves
// (commit or tag of that name again) stays as a dangling image when no
// other name refers to it: listed as <none>:<none> by docker and ctl, by
// --filter dangling=true, its layers kept by garbage collection, removed by
// rmi of its ID and by image prune.
func TestMovedTagKeepsDanglingImage(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	commit := func(content, name string) string {
		s.docker("rm", "-f", "cc")
		s.mustDocker("run", "--name", "cc", "busybox", "sh", "-c", "echo "+content+" > /f")
		return strings.TrimSpace(s.mustDocker("commit", "cc", name))
	}
	dangling := func() string {
		return s.mustDocker("images", "-a", "-q", "--no-trunc", "--filter", "dangling=true")
	}
	one := commit("one", "dangl:x")
	two := commit("two", "dangl:x")
	if out := dangling(); out != one+"\n" {
		t.Fatalf("dangling after the second commit: %q, want %s", out, one)
	}
	if out := s.mustDocker("images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); !strings.Contains(out, "<none>:<none> "+one[7:19]+"\n") || !strings.Contains(out, "dangl:x "+two[7:19]+"\n") {
		t.Errorf("docker images -a:\n%s", out)
	}
	if out := s.mustRun("images", "-a"); !strings.Contains(out, one[7:19]) || !strings.Contains(out, "<none>") {
		t.Errorf("ctl images -a:\n%s", out)
	}
	// docker tag NEW x when x named OLD.
	s.mustDocker("tag", "busybox", "dangl:x")
	if out := dangling(); !strings.Contains(out, one) || !strings.Contains(out, two) {
		t.Fatalf("dangling after tag: %q, want %s and %s", out, one, two)
	}
	// An image another name still refers to is not dangling.
	three := commit("three", "kept:1")
	s.mustDocker("tag", "kept:1", "kept:2")
	commit("four", "kept:1")
	if out := dangling(); strings.Contains(out, three) {
		t.Errorf("an image still named kept:2 is dangling: %q", out)
	}
	// Garbage collection (run by a prune that removes nothing) keeps the
	// dangling images' layers.
	s.mustDocker("rm", "-f", "cc")
	s.mustDocker("image", "prune", "-f", "--filter", "label=nosuch=label")
	if out := s.mustDocker("run", "--rm", one, "cat", "/f"); out != "one\n" {
		t.Errorf("run of the dangling image: %q", out)
	}
	s.mustDocker("rmi", one[7:19])
	if out := dangling(); out != two+"\n" {
		t.Errorf("dangling after rmi %s: %q", one, out)
	}
	if out := s.mustDocker("image", "prune", "-f"); !strings.Contains(out, "deleted: "+two) {
		t.Errorf("image prune: %q", out)
	}
	if out := dangling(); out != "" {
		t.Errorf("dangling after prune: %q", out)
	}
}
