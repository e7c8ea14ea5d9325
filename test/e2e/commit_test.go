package e2e

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// commit of a container that added, changed and deleted files gives an
// image whose history has the new layer, that runs with the --change CMD
// and shows the changes; the volume's content is not in it; diff lists
// A/C/D as dockerd does; a running container is paused for the commit and
// runs again after it.
func TestCommitDiffDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "--name", "c1", "-v", "vol:/data", "busybox", "sh", "-c",
		"echo new > /new.txt && echo changed >> /etc/group && rm /etc/shadow 2>/dev/null; rm /bin/true && mkdir -p /srv/a && echo x > /srv/a/f && echo secret > /data/in-volume")
	diff := s.mustDocker("diff", "c1")
	for _, want := range []string{"A /new.txt", "C /etc/group", "D /bin/true", "A /srv/a/f", "A /data"} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("docker diff lacks %q:\n%s", want, diff)
		}
	}
	for _, no := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys", "/dev", "in-volume"} {
		if strings.Contains(diff, no) {
			t.Errorf("docker diff lists %s:\n%s", no, diff)
		}
	}
	id := strings.TrimSpace(s.mustDocker("commit", "-a", "Ann <a@x>", "-m", "my message", "-c", "CMD [\"cat\", \"/new.txt\"]", "-c", "ENV FOO=bar", "c1", "committed:v1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if out := s.mustDocker("run", "--rm", "committed:v1"); out != "new\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "committed:v1", "sh", "-c", "echo $FOO; tail -1 /etc/group; test -e /bin/true || echo no-true; cat /srv/a/f; ls /data"); out != "bar\nchanged\nno-true\nx\n" {
		t.Errorf("the committed image shows %q", out)
	}
	hist := s.mustDocker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:v1")
	if first := strings.SplitN(hist, "\n", 2)[0]; !strings.Contains(first, "|my message") || !strings.Contains(first, "sh -c echo new") {
		t.Errorf("history: %q", hist)
	}
	if out := s.mustDocker("inspect", "-f", "{{.Author}} {{.Config.Cmd}} {{len .RootFS.Layers}}", "committed:v1"); out != "Ann <a@x> [cat /new.txt] 2\n" {
		t.Errorf("inspect: %q", out)
	}

	// A running container is paused while committed and runs on.
	s.mustDocker("run", "-d", "--name", "c2", "busybox", "sh", "-c", "echo 1 > /one; sleep 300")
	s.mustDocker("exec", "c2", "sh", "-c", "test -e /one")
	s.mustDocker("commit", "c2", "committed:v2")
	if out := s.mustDocker("inspect", "-f", "{{.State.Status}}", "c2"); out != "running\n" {
		t.Errorf("after commit: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "committed:v2", "cat", "/one"); out != "1\n" {
		t.Errorf("committed running container: %q", out)
	}
	s.mustDocker("rm", "-f", "c2")

	// Bad input: docker's errors, no image made.
	before := s.mustDocker("images", "-q", "-a")
	if _, errOut, code := s.docker("commit", "nosuch", "x:1"); code == 0 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Errorf("commit of a missing container: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("commit", "-c", "RUN echo hi", "c1", "x:2"); code == 0 || !strings.Contains(errOut, "RUN is not a valid change command") {
		t.Errorf("commit with RUN: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("commit", "-c", "EXPOSE 99999", "c1", "x:3"); code == 0 || !strings.Contains(errOut, "99999") {
		t.Errorf("commit with a bad port: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("diff", "nosuch"); code == 0 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Errorf("diff of a missing container: %d %s", code, errOut)
	}
	if after := s.mustDocker("images", "-q", "-a"); after != before {
		t.Errorf("failed commits made images: %q -> %q", before, after)
	}
}

// export of a container, then import with --change and --message, runs.
func TestImportDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("create", "--name", "src", "busybox", "true")
	tarPath := filepath.Join(s.root, "rootfs.tar")
	s.mustDocker("export", "-o", tarPath, "src")
	id := strings.TrimSpace(s.mustDocker("import", "-c", "CMD [\"echo\", \"imported\"]", "-c", "WORKDIR /tmp", "-m", "from a tar", tarPath, "imp:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	if out := s.mustDocker("run", "--rm", "imp:1"); out != "imported\n" {
		t.Errorf("run of the imported image: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "imp:1", "pwd"); out != "/tmp\n" {
		t.Errorf("workdir: %q", out)
	}
	if out := s.mustDocker("history", "--format", "{{.Comment}}", "imp:1"); out != "from a tar\n" {
		t.Errorf("history: %q", out)
	}
	// From stdin.
	cmd := exec.Command("docker", "-H", "unix://"+s.engSock, "import", "-", "imp:stdin")
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import from stdin: %v %s", err, out)
	}
	if out := s.mustDocker("run", "--rm", "imp:stdin", "echo", "ok"); out != "ok\n" {
		t.Errorf("run of the stdin import: %q", out)
	}

	before := s.mustDocker("images", "-q", "-a")
	bad := filepath.Join(s.root, "bad.tar")
	os.WriteFile(bad, []byte("this is not a tar archive at all, not even close......"), 0o644)
	if _, errOut, code := s.docker("import", bad, "bad:1"); code == 0 || !strings.Contains(errOut, "tar") {
		t.Errorf("import of a bad tar: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "-c", "RUN x", tarPath, "bad:2"); code == 0 || !strings.Contains(errOut, "RUN is not a valid change command") {
		t.Errorf("import with RUN: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "--platform", "linux/s390x", tarPath, "bad:3"); code == 0 || !strings.Contains(errOut, "s390x") {
		t.Errorf("import for another platform: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "http://127.0.0.1:1/rootfs.tar", "bad:4"); code == 0 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("import from an unreachable URL: %d %s", code, errOut)
	}
	if after := s.mustDocker("images", "-q", "-a"); after != before {
		t.Errorf("failed imports made images: %q -> %q", before, after)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "eng", "tmp", "import")); len(ents) != 0 {
		t.Errorf("import spools left: %v", ents)
	}
}

// ctl commit (-a -c -m -p), diff and import, as the docker CLI's.
func TestCommitDiffImportCtl(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustRun("run", "--name", "c1", "busybox", "sh", "-c", "echo hi > /hi; rm /bin/true")
	if out := s.mustRun("diff", "c1"); out != "C /bin\nD /bin/true\nA /hi\n" {
		t.Errorf("ctl diff: %q", out)
	}
	if out := s.mustRun("container", "diff", "c1"); out != "C /bin\nD /bin/true\nA /hi\n" {
		t.Errorf("ctl container diff: %q", out)
	}
	id := strings.TrimSpace(s.mustRun("commit", "-a", "me", "-m", "msg", "-p=false", "-c", "ENTRYPOINT [\"cat\"]", "-c", "CMD [\"/hi\"]", "c1", "ctlimg:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("ctl commit printed %q", id)
	}
	if out := s.mustRun("run", "--rm", "ctlimg:1"); out != "hi\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	if out := s.mustRun("history", "--format", "{{.Comment}}", "ctlimg:1"); !strings.HasPrefix(out, "msg\n") {
		t.Errorf("history: %q", out)
	}
	if _, errOut, code := s.run("commit", "-c", "FROM scratch", "c1"); code == 0 || !strings.Contains(errOut, "FROM is not a valid change command") {
		t.Errorf("ctl commit FROM: %d %q", code, errOut)
	}
	// A commit without a name is an image without one.
	anon := strings.TrimSpace(s.mustRun("container", "commit", "c1"))
	if out := s.mustRun("images", "-q", "--no-trunc", "--filter", "dangling=true"); !strings.Contains(out, anon) {
		t.Errorf("unnamed commit %s not dangling: %q", anon, out)
	}

	// A container never started changed nothing: an empty diff, and its
	// commit adds a history entry but no layer.
	s.mustRun("create", "--name", "c0", "busybox", "true")
	if out := s.mustRun("diff", "c0"); out != "" {
		t.Errorf("diff of a created container: %q", out)
	}
	s.mustRun("commit", "-c", "ENV X=1", "c0", "meta:1")
	if out := s.mustRun("image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Config.Env}}", "meta:1"); !strings.HasPrefix(out, "1 ") || !strings.Contains(out, "X=1") {
		t.Errorf("metadata-only commit: %q", out)
	}
	if out := s.mustRun("history", "-q", "meta:1"); len(strings.Fields(out)) != 2 {
		t.Errorf("metadata-only commit's history: %q", out)
	}

	tarPath := filepath.Join(s.root, "c1.tar")
	s.mustRun("export", "-o", tarPath, "c1")
	imp := strings.TrimSpace(s.mustRun("import", "-m", "ctl import", "-c", "CMD [\"cat\", \"/hi\"]", tarPath, "ctlimp:1"))
	if !strings.HasPrefix(imp, "sha256:") {
		t.Fatalf("ctl import printed %q", imp)
	}
	if out := s.mustRun("run", "--rm", "ctlimp:1"); out != "hi\n" {
		t.Errorf("run of the imported image: %q", out)
	}
	stdin := s.ctl("import", "-", "ctlimp:stdin")
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin.Stdin = f
	if out, err := stdin.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sha256:") {
		t.Fatalf("ctl import -: %v %s", err, out)
	}
	if out := s.mustRun("run", "--rm", "ctlimp:stdin", "cat", "/hi"); out != "hi\n" {
		t.Errorf("run of the stdin import: %q", out)
	}
	if _, errOut, code := s.run("image", "import", "--platform", "linux/arm64", tarPath, "ctlimp:2"); code == 0 || !strings.Contains(errOut, "linux/arm64") {
		t.Errorf("ctl import for arm64: %d %q", code, errOut)
	}
	if _, errOut, code := s.run("import", filepath.Join(s.root, "missing.tar")); code == 0 || !strings.Contains(errOut, "missing.tar") {
		t.Errorf("ctl import of a missing file: %d %q", code, errOut)
	}
}

// docker-py: container.commit and container.diff, images.import_image.
func TestCommitDockerPy(t *testing.T) {
	py, err := exec.LookPath("python3")
	testprereq.Require(t, err == nil, "python3")
	testprereq.Require(t, exec.Command(py, "-c", "import docker").Run() == nil, "needs docker-py")
	s := newStack(t)
	s.loadBusybox()
	script := `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.run("busybox", ["sh", "-c", "echo py > /py.txt; rm /bin/true"], detach=True)
ct.wait()
d = {x["Path"]: x["Kind"] for x in ct.diff()}
assert d.get("/py.txt") == 1 and d.get("/bin/true") == 2 and d.get("/bin") == 0, d
img = ct.commit(repository="pyimg", tag="1", message="from py", author="py", changes=["CMD cat /py.txt", "LABEL a=b"])
assert img.labels == {"a": "b"}, img.attrs["Config"]
assert img.attrs["Author"] == "py", img.attrs
out = c.containers.run("pyimg:1", remove=True)
assert out == b"py\n", out
h = img.history()
assert h[0]["Comment"] == "from py", h
try:
    c.containers.get(ct.id).commit(changes=["RUN x"])
    assert False, "RUN accepted"
except docker.errors.APIError as e:
    assert e.status_code == 400 and "not a valid change command" in str(e), e
print("ok")
`
	cmd := exec.Command(py, "-c", script, "unix://"+s.engSock)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.root)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
}

// duBytes is `du -sB1` of dir: the disk space it really uses.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sB1", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rmi of a big image frees its disk space at once (blobs and unpacked
// layers), and system df's count matches du of the supervisor's root
// within 5%; a committed image saved with docker save loads elsewhere.
func TestDiskSpaceRmiAndDF(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "--name", "big", "busybox", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=40")
	s.mustDocker("commit", "big", "big:1")
	s.mustDocker("rm", "big")
	root := filepath.Join(s.root, "sup")
	code, body := s.http("GET", "/system/df", "", nil)
	if code != 200 {
		t.Fatalf("df: %d %s", code, body)
	}
	var df struct{ LayersSize int64 }
	if err := json.Unmarshal([]byte(body), &df); err != nil {
		t.Fatal(err)
	}
	du := duBytes(t, root)
	if diff := math.Abs(float64(df.LayersSize - du)); diff > 0.05*float64(du) {
		t.Errorf("system df counts %d bytes, du of %s %d", df.LayersSize, root, du)
	}

	// docker save of the committed image loads into a second engine.
	saved := filepath.Join(s.root, "big.tar")
	s.mustDocker("save", "-o", saved, "big:1")
	other := newStack(t)
	if out, errOut, code := other.docker("load", "-i", saved); code != 0 || !strings.Contains(out, "big:1") {
		t.Fatalf("load elsewhere: %d %s %s", code, out, errOut)
	}
	if out := other.mustDocker("run", "--rm", "big:1", "sh", "-c", "wc -c < /big"); strings.TrimSpace(out) != "41943040" {
		t.Errorf("the loaded image's /big: %q", out)
	}

	// An image a container uses stays, dangling, when its name is forced
	// away: the collection at the next rmi keeps it.
	s.mustDocker("create", "--name", "keep", "busybox", "true")
	s.mustDocker("rmi", "-f", "busybox")
	if out := s.mustDocker("images", "-q", "--filter", "dangling=true"); strings.TrimSpace(out) == "" {
		t.Errorf("forced rmi of an image in use left no dangling image")
	}

	s.mustDocker("rmi", "big:1")
	after := duBytes(t, root)
	if du-after < 70<<20 {
		t.Errorf("rmi freed %d bytes of about 80 MiB (du %d -> %d)", du-after, du, after)
	}
	s.mustDocker("commit", "keep", "kept:1")
	if out := s.mustDocker("run", "--rm", "kept:1", "echo", "ok"); out != "ok\n" {
		t.Errorf("commit of a container whose image lost its name: %q", out)
	}
}
