package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// COPY --link makes its layer apart from the stage's image, as BuildKit
// does: when an earlier step changes, the --link steps are taken from the
// cache and the image ends with the very same layers (diff IDs) on the
// new parent; a destination below a symlinked directory of the image is
// a directory of the layer's own; nothing is left of making the layer.
func TestBuildCopyLink(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	df := func(step string) string {
		return "FROM busybox\n" +
			"RUN echo " + step + " > /step && mkdir /real && ln -s /real /linked\n" +
			"COPY --link --chmod=0640 a.txt /app/a.txt\n" +
			"COPY --link b.txt /linked/b.txt\n" +
			`CMD ["sh", "-c", "cat /step /app/a.txt /linked/b.txt; stat -c %a /app/a.txt; ls /real; test -L /linked || echo linked-is-a-directory"]` + "\n"
	}
	dir := writeContext(t, map[string]string{"Dockerfile": df("one"), "a.txt": "a\n", "b.txt": "b\n"})
	s.mustDocker("build", "-t", "link:1", dir)
	if got, want := s.mustDocker("run", "--rm", "link:1"), "one\na\nb\n640\nlinked-is-a-directory\n"; got != want {
		t.Errorf("run link:1: %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df("two")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := s.dockerBuild("-t", "link:2", dir)
	if code != 0 {
		t.Fatalf("build after a change: exit %d\n%s\n%s", code, out, errOut)
	}
	checkCached(t, "build after a change", out, func(in string) bool { return strings.HasPrefix(in, "COPY --link") })
	if got, want := s.mustDocker("run", "--rm", "link:2"), "two\na\nb\n640\nlinked-is-a-directory\n"; got != want {
		t.Errorf("run link:2: %q, want %q", got, want)
	}
	layers := func(ref string) []string {
		return strings.Fields(strings.Trim(s.mustDocker("inspect", "-f", "{{range .RootFS.Layers}}{{.}} {{end}}", ref), " \n"))
	}
	l1, l2 := layers("link:1"), layers("link:2")
	if len(l1) != len(l2) || len(l1) < 3 {
		t.Fatalf("layers %v and %v", l1, l2)
	}
	n := len(l1)
	if l1[n-3] == l2[n-3] || l1[n-2] != l2[n-2] || l1[n-1] != l2[n-1] {
		t.Errorf("the --link layers are not the same blobs on the new parent:\n%v\n%v", l1, l2)
	}
	if imgs := s.mustDocker("images", "--format", "{{.Repository}}:{{.ID}}"); strings.Contains(imgs, "<none>") {
		t.Errorf("images left from making --link layers:\n%s", imgs)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}
