package e2e

import (
	"runtime"
	"strings"
	"testing"
)

// The forms the other build tests do not show: the `# syntax` and
// `# escape` directives, FROM --platform (this host's) of a registry
// image, COPY --from=IMAGE, wildcard sources, RUN --network=host (it
// reaches the registry on the host's loopback); --pull takes the newer
// base the registry has where a build without it keeps the local one.
func TestBuildPullAndForms(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	reg := startTestRegistry(t, false)
	base := reg.host + "/e2e/base:1"
	s.mustDocker("tag", "busybox", base)
	s.mustDocker("push", base)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\n" +
			"FROM --platform=linux/" + runtime.GOARCH + " " + base + "\n" +
			"COPY --from=busybox /bin/busybox /copied/bb\n" +
			"COPY *.txt /w/\n" +
			"RUN --network=host echo files: $(ls /w) && test -x /copied/bb && `\n" +
			"    echo registry: $(wget -q -O- http://" + reg.host + "/v2/) && echo marker: $(cat /marker 2>/dev/null)\n",
		"a.txt": "a", "b.txt": "b", "c.md": "c",
	})
	out, errOut, code := s.dockerBuild(dir)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"files: a.txt b.txt\n", "registry: {}\n", "marker:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}

	// A newer base in the registry; the local tag stays on the old one.
	newer := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo newer > /marker\n"})
	s.mustDocker("build", "-q", "-t", base, newer)
	s.mustDocker("push", base)
	s.mustDocker("tag", "busybox", base)
	if out, _, _ := s.dockerBuild(dir); strings.Contains(out, "marker: newer") || strings.Contains(out, "Running in") {
		t.Errorf("a build without --pull did not keep the local base (and its cache):\n%s", out)
	}
	out, errOut, code = s.dockerBuild("--pull", dir)
	if code != 0 || !strings.Contains(out, "marker: newer\n") {
		t.Errorf("build --pull: exit %d\n%s\n%s", code, out, errOut)
	}
}
