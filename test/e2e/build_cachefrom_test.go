package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const cacheFromDockerfile = `FROM busybox AS builder
ARG FLAVOUR=plain
WORKDIR /src
COPY app/ ./
RUN echo "$FLAVOUR" > flavour && cat one.txt sub/two.txt > all.txt

FROM busybox
ENV GREETING=hi
COPY --from=builder /src/all.txt /srv/
COPY --chown=1000:1000 conf.txt /etc/conf.txt
RUN cat /etc/conf.txt /srv/all.txt > /srv/out && stat -c %u /etc/conf.txt >> /srv/out
COPY --link app/one.txt /link/one.txt
LABEL stage=final
CMD ["cat", "/srv/out", "/link/one.txt"]
`

// buildSteps splits a classic build's output into its steps: the
// instruction of each and whether it came from the cache.
func buildSteps(out string) (instrs []string, cached []bool) {
	re := regexp.MustCompile(`(?m)^Step \d+/\d+ : (.*)$`)
	idx := re.FindAllStringSubmatchIndex(out, -1)
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		instrs = append(instrs, out[m[2]:m[3]])
		cached = append(cached, strings.Contains(out[m[1]:end], " ---> Using cache"))
	}
	return instrs, cached
}

// checkCached fails unless exactly the steps for whose instruction want
// is true came from the cache (FROM steps are never "cached").
func checkCached(t *testing.T, what, out string, want func(instr string) bool) {
	t.Helper()
	instrs, cached := buildSteps(out)
	if len(instrs) == 0 {
		t.Fatalf("%s: no steps in:\n%s", what, out)
	}
	for i, in := range instrs {
		w := want(in) // called for every step, in order
		if w = w && !strings.HasPrefix(in, "FROM"); cached[i] != w {
			t.Errorf("%s: step %q cached=%v, want %v\n%s", what, in, cached[i], w, out)
		}
	}
}

// --cache-from as dockerd's classic builder has it: images built on one
// engine, saved and loaded into another (fresh) one, are that engine's
// cache. A rebuild with --cache-from takes every step from them (the
// same image ID; the builder stage given as a --target image of its own);
// a changed COPY source rebuilds from that COPY on (a --link COPY after it
// is still reused); ctl's --cache-from and docker-py's cache_from do the
// same after the local cache is pruned. An image that is not here is
// skipped with a warning.
func TestBuildCacheFrom(t *testing.T) {
	a := newStack(t)
	a.loadBusybox()
	dir := writeContext(t, map[string]string{
		"Dockerfile":      cacheFromDockerfile,
		"app/one.txt":     "one\n",
		"app/sub/two.txt": "two\n",
		"conf.txt":        "conf\n",
	})
	for _, args := range [][]string{{"--target", "builder", "-t", "cf:builder", dir}, {"-t", "cf:1", dir}} {
		if out, errOut, code := a.dockerBuild(args...); code != 0 {
			t.Fatalf("build %v: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
	id1 := a.mustDocker("inspect", "-f", "{{.Id}}", "cf:1")
	want := "conf\none\ntwo\n1000\none\n"
	if got := a.mustDocker("run", "--rm", "cf:1"); got != want {
		t.Fatalf("run cf:1: %q, want %q", got, want)
	}
	tarPath := filepath.Join(t.TempDir(), "cf.tar")
	a.mustDocker("save", "-o", tarPath, "cf:1", "cf:builder", "busybox")

	b := newStack(t)
	b.mustDocker("load", "-i", tarPath)
	out, errOut, code := b.dockerBuild("--cache-from", "cf:1", "--cache-from", "cf:builder", "--cache-from", "nosuch:1", "-t", "cf:2", dir)
	if code != 0 {
		t.Fatalf("build --cache-from: exit %d\n%s\n%s", code, out, errOut)
	}
	checkCached(t, "build --cache-from", out, func(string) bool { return true })
	if strings.Contains(out, "Running in") {
		t.Errorf("build --cache-from ran a step:\n%s", out)
	}
	if !strings.Contains(out, "cache-from image nosuch:1 not found") {
		t.Errorf("no warning for a missing cache-from image:\n%s", out)
	}
	if id2 := b.mustDocker("inspect", "-f", "{{.Id}}", "cf:2"); id2 != id1 {
		t.Errorf("build --cache-from made image %s, want %s", id2, id1)
	}

	// A changed COPY source: the steps before it from the cache, the COPY
	// and the RUN after it run; the --link COPY is reused on the new
	// parent; LABEL and CMD follow a step that ran.
	conf := filepath.Join(dir, "conf.txt")
	os.WriteFile(conf, []byte("changed\n"), 0o644)
	out, errOut, code = b.dockerBuild("--cache-from", "cf:1", "--cache-from", "cf:builder", "-t", "cf:3", dir)
	if code != 0 {
		t.Fatalf("build after a change: exit %d\n%s\n%s", code, out, errOut)
	}
	rebuilt := false
	checkCached(t, "build after a change", out, func(in string) bool {
		if strings.HasPrefix(in, "COPY --chown") {
			rebuilt = true
		}
		return !rebuilt || strings.HasPrefix(in, "COPY --link")
	})
	if got := b.mustDocker("run", "--rm", "cf:3"); got != strings.Replace(want, "conf", "changed", 1) {
		t.Errorf("run cf:3: %q", got)
	}

	// ctl build --cache-from and docker-py's cache_from, each with an
	// empty local cache.
	os.WriteFile(conf, []byte("conf\n"), 0o644)
	b.mustDocker("builder", "prune", "-af")
	iid := filepath.Join(t.TempDir(), "iid")
	ctlOut := b.mustRun("build", "--cache-from", "cf:1,cf:builder", "--iidfile", iid, dir)
	if got, _ := os.ReadFile(iid); string(got)+"\n" != id1 {
		t.Errorf("ctl build --cache-from: image %q, want %q\n%s", got, id1, ctlOut)
	}
	steps := 0
	for _, l := range strings.Split(ctlOut, "\n") {
		if strings.HasPrefix(l, "[") && strings.Contains(l, "] ") && !strings.Contains(l, "] FROM") {
			steps++
			if !strings.HasSuffix(l, "CACHED") {
				t.Errorf("ctl build --cache-from: step not cached: %q\n%s", l, ctlOut)
			}
		}
	}
	if steps == 0 {
		t.Errorf("ctl build --cache-from: no steps shown:\n%s", ctlOut)
	}
	b.mustDocker("builder", "prune", "-af")
	py := requireDockerPy(t)
	b.runDockerPy(py, `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=`+pyQuote(dir)+`, cache_from=["cf:1", "cf:builder"])
text = "".join(l.get("stream", "") for l in logs)
assert img.id == `+pyQuote(strings.TrimSpace(id1))+`, (img.id, text)
assert "Running in" not in text and "Using cache" in text, text
print("ok")
`)
}
