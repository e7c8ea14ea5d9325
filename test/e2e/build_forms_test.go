package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ADD extracts a local compressed tar and downloads a URL (a file 0600
// named after the URL); an unreachable URL is a clear error naming it and
// the line. Predefined proxy args reach RUN without an ARG line but not
// the image, its history or the cache key.
func TestBuildAddAndProxyArgs(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dl/remote.txt" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("downloaded\n"))
	}))
	defer srv.Close()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"ADD files.tgz /gz/\n" +
		"ADD " + srv.URL + "/dl/remote.txt /dl/\n" +
		"RUN echo \"proxy=$HTTP_PROXY\"\n"})
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "g.txt"), []byte("in-gz\n"), 0o644)
	if out, err := exec.Command("tar", "czf", filepath.Join(dir, "files.tgz"), "-C", src, "g.txt").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	out, errOut, code := s.dockerBuild("--build-arg", "HTTP_PROXY=http://proxy.example:3128", "-t", "add:1", dir)
	if code != 0 || !strings.Contains(out, "proxy=http://proxy.example:3128") {
		t.Fatalf("build: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := s.mustDocker("run", "--rm", "add:1", "sh", "-c", "cat /gz/g.txt /dl/remote.txt; stat -c %a /dl/remote.txt; env | grep -ci proxy; true"); got != "in-gz\ndownloaded\n600\n0\n" {
		t.Errorf("image: %q", got)
	}
	if h := s.mustDocker("history", "--no-trunc", "add:1"); strings.Contains(h, "proxy.example") {
		t.Errorf("the proxy arg is in the history:\n%s", h)
	}
	// Another proxy is no cache miss.
	if out, _, code := s.dockerBuild("--build-arg", "HTTP_PROXY=http://other:1", dir); code != 0 || strings.Contains(out, "Running in") {
		t.Errorf("another proxy value rebuilt:\n%s", out)
	}
	// A URL that cannot be reached.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\nADD http://127.0.0.1:1/nothing.txt /x\n"})
	if _, errOut, code := s.dockerBuild(bad); code == 0 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "http://127.0.0.1:1/nothing.txt: cannot download") {
		t.Errorf("unreachable URL: exit %d %s", code, errOut)
	}
	missing := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/nosuch /x\n"})
	if _, errOut, code := s.dockerBuild(missing); code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("404 URL: exit %d %s", code, errOut)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}

// The Dockerfile from stdin (-f -) or from outside the context, through
// the docker CLI and ctl; --iidfile; --rm=false keeps the RUN step's
// container, --force-rm is taken; the cache survives an engined restart.
func TestBuildDockerfileFormsAndRestart(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{"data.txt": "data\n", "Dockerfile": "FROM busybox\nRUN exit 5\n"})
	df := "FROM busybox\nCOPY data.txt /data.txt\nRUN cat /data.txt > /copy\n"
	outside := filepath.Join(t.TempDir(), "Other.Dockerfile")
	os.WriteFile(outside, []byte(df), 0o644)
	iid := filepath.Join(t.TempDir(), "iid")

	cmd := exec.Command("docker", "build", "-f", "-", "--iidfile", iid, "-t", "forms:stdin", dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	cmd.Stdin = strings.NewReader(df)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build -f -: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(iid)
	if id := strings.TrimSpace(s.mustDocker("inspect", "-f", "{{.Id}}", "forms:stdin")); id != string(b) {
		t.Errorf("--iidfile %q, image %q", b, id)
	}
	if out := s.mustDocker("build", "-f", outside, "-t", "forms:outside", dir); strings.Contains(out, "Running in") {
		t.Errorf("the same Dockerfile from outside the context was not cached:\n%s", out)
	}
	c := s.ctl("build", "-f", "-", "-t", "forms:ctl", dir)
	c.Stdin = strings.NewReader(df)
	if out, err := c.CombinedOutput(); err != nil || strings.Count(string(out), "CACHED") != 2 {
		t.Errorf("ctl build -f -: %v\n%s", err, out)
	}
	if got := s.mustDocker("run", "--rm", "forms:ctl", "cat", "/copy"); got != "data\n" {
		t.Errorf("run: %q", got)
	}
	// The context's own Dockerfile is in the context; a stdin one is not.
	probe := "FROM busybox\nCOPY . /ctx/\n"
	c = s.ctl("build", "-f", "-", "-q", "-t", "forms:probe", dir)
	c.Stdin = strings.NewReader(probe)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("probe: %v %s", err, out)
	}
	if got := s.mustDocker("run", "--rm", "forms:probe", "ls", "-A", "/ctx"); got != "Dockerfile\ndata.txt\n" {
		t.Errorf("context seen by COPY: %q", got)
	}

	// --rm=false keeps the container of a successful RUN; --force-rm.
	keep := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo kept > /k\n"})
	s.mustDocker("build", "--rm=false", keep)
	if ps := strings.TrimSpace(s.mustDocker("ps", "-aq")); ps == "" {
		t.Errorf("--rm=false kept no container")
	}
	for _, id := range strings.Fields(s.mustDocker("ps", "-aq")) {
		s.mustDocker("rm", "-f", id)
	}
	if _, _, code := s.dockerBuild("--force-rm", "--no-cache", keep); code != 0 {
		t.Errorf("--force-rm: exit %d", code)
	}
	if ps := strings.TrimSpace(s.mustDocker("ps", "-aq")); ps != "" {
		t.Errorf("--force-rm kept %s", ps)
	}

	// The cache survives an engined restart.
	s.stop(s.engine)
	s.startEngine()
	if out := s.mustDocker("build", "-f", outside, dir); strings.Count(out, "Using cache") != 2 {
		t.Errorf("the cache did not survive a restart:\n%s", out)
	}
}

// COPY --parents keeps the sources' paths (after a /./ pivot), --exclude
// drops what its patterns match (also with --from), --chmod takes a
// symbolic mode, ADD --checksum checks a download's digest.
func TestBuildCopyParentsExcludeChecksum(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("payload\n")) }))
	defer srv.Close()
	const sum = "sha256:43a07e0e7fb8e5ab6a0d0b2f1cbc6bb3e72fd3a4e4b8b8a0e57c3a2b85d6c1f0" // not payload's
	good := "sha256:" + sha256Hex("payload\n")
	dir := writeContext(t, map[string]string{
		"a/b/c.txt": "c\n", "a/b/d.md": "d\n", "x/y/f.txt": "f\n", "x/y/g.log": "g\n",
		"Dockerfile": "FROM busybox AS src\nRUN mkdir -p /s/k && echo 1 > /s/k/keep && echo 2 > /s/k/drop.tmp\n" +
			"FROM busybox\n" +
			"COPY --parents a/b/c.txt x/./y/ /p/\n" +
			"COPY --exclude=**/*.md --exclude=*.log a/ x/y/ /e/\n" +
			"COPY --from=src --exclude=*.tmp /s/k/ /f/\n" +
			"ADD --checksum=" + good + " " + srv.URL + "/file.txt /dl.txt\n" +
			"COPY --chmod=u+x,go-r a/b/c.txt /sym.txt\n" +
			"RUN find /p /e /f -type f | sort && cat /dl.txt && stat -c 'sym %a' /sym.txt\n",
	})
	out, errOut, code := s.dockerBuild(dir)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s\n%s", code, out, errOut)
	}
	if want := "/e/b/c.txt\n/e/f.txt\n/f/keep\n/p/a/b/c.txt\n/p/y/f.txt\n/p/y/g.log\npayload\nsym 700\n"; !strings.Contains(out, want) {
		t.Errorf("files: want %q in\n%s", want, out)
	}
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + sum + " " + srv.URL + "/file.txt /dl.txt\n"})
	if _, errOut, code := s.dockerBuild(bad); code == 0 || !strings.Contains(errOut, "digest mismatch") || !strings.Contains(errOut, "line 2") {
		t.Errorf("wrong checksum: exit %d %s", code, errOut)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
