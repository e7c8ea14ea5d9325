package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine"
	"github.com/berthd/berth/pkg/testprereq"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// dockerBuild runs `docker build` with the classic builder.
func (s *stack) dockerBuild(args ...string) (string, string, int) {
	s.t.Helper()
	return s.dockerEnv([]string{"DOCKER_BUILDKIT=0"}, append([]string{"build"}, args...)...)
}

// mkTar writes a tar archive of files.
func mkTar(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(1, 0)})
		tw.Write([]byte(content))
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func timeNow() time.Time { return time.Now() }

// writeContext writes files (name → content) into a new build context.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const buildDockerfile = `# a multi-stage build with most instructions
# check=skip=MaintainerDeprecated
ARG BASE=busybox
FROM scratch AS assets
COPY --link src/a.txt /assets/a.txt

FROM ${BASE} AS builder
ARG GREETING=hello
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY src/ ./src/
RUN echo "$GREETING from builder" > /app/built.txt && cat src/a.txt >> /app/built.txt
RUN ["/bin/sh", "-c", "echo exec-form >> /app/built.txt"]
RUN --network=none --mount=type=tmpfs,target=/t --mount=type=secret,id=optional echo scratch > /t/x && ! ip route 2>/dev/null | grep -q default
ADD files.tar /unpacked/

FROM busybox AS unused
RUN exit 7

FROM busybox
LABEL org.example.name="berth test" version=1
MAINTAINER someone
ENV PATH=/usr/local/bin:/bin:/usr/bin
USER 1000:1000
WORKDIR /srv
COPY --from=builder /app/built.txt ./
COPY --from=builder --chown=1000:1000 --chmod=0640 /unpacked/inner.txt /srv/inner.txt
COPY --chmod=0755 run.sh /usr/local/bin/
COPY --from=assets /assets/a.txt /srv/assets.txt
EXPOSE 8080/tcp 9090/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["arg1"]
`

// multiStageRunOutput is what the image of buildDockerfile prints.
const multiStageRunOutput = "run arg1 as 1000 in /srv\nhello from builder\ncontent of a\nexec-form\nfrom the tar\n"

// multiStageContext writes buildDockerfile's context.
func multiStageContext(t *testing.T) string {
	t.Helper()
	dir := writeContext(t, map[string]string{
		"Dockerfile":    buildDockerfile,
		"src/a.txt":     "content of a\n",
		"run.sh":        "#!/bin/sh\necho \"run $@ as $(id -u) in $(pwd)\"\ncat built.txt inner.txt\n",
		"secret.key":    "do not send\n",
		"logs/x.log":    "log\n",
		".dockerignore": "secret.key\nlogs\n",
	})
	mkTar(t, filepath.Join(dir, "files.tar"), map[string]string{"inner.txt": "from the tar\n"})
	return dir
}

// A multi-stage Dockerfile builds through the docker CLI's classic
// builder; the image runs with its user, workdir, env, entrypoint,
// labels, ports and healthcheck; the unused stage is skipped; a second
// build is all cache hits and gives the same image; an ONBUILD trigger
// runs in a child build; .dockerignore excludes.
func TestBuildDockerMultiStage(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := multiStageContext(t)

	out, errOut, code := s.dockerBuild("-t", "built:1", "-t", "built:alias", dir)
	if code != 0 {
		t.Fatalf("docker build: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Step 1/", " ---> Running in ", "Successfully built ", "Successfully tagged built:1", "Successfully tagged built:alias"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "exit 7") {
		t.Errorf("the unused stage was built:\n%s", out)
	}
	got := s.mustDocker("run", "--rm", "built:1")
	if want := multiStageRunOutput; got != want {
		t.Errorf("run of the built image: %q, want %q", got, want)
	}
	ins := s.mustDocker("inspect", "-f", "{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{index .Config.Labels \"org.example.name\"}}|{{.Config.ExposedPorts}}|{{.Config.Healthcheck.Test}}|{{.Config.StopSignal}}|{{.Config.Volumes}}|{{.Author}}|{{.Config.OnBuild}}", "built:1")
	if want := "1000:1000|/srv|[/usr/local/bin/run.sh]|[arg1]|berth test|map[8080/tcp:{} 9090/udp:{}]|[CMD-SHELL true]|SIGTERM|map[/data:{}]|someone|[RUN echo triggered > /tmp/onbuild]\n"; ins != want {
		t.Errorf("inspect: %q\nwant     %q", ins, want)
	}
	if got := s.mustDocker("run", "--rm", "--entrypoint", "sh", "built:1", "-c", "stat -c '%u:%g %a' inner.txt /usr/local/bin/run.sh; echo $PATH; ls -a /"); !strings.HasPrefix(got, "1000:1000 640\n0:0 755\n/usr/local/bin:/bin:/usr/bin\n") {
		t.Errorf("owners, modes, env: %q", got)
	}

	// .dockerignore: the excluded files are not in the context.
	ign := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx | sort | tr '\\n' ' '\n",
		"keep.txt":      "k",
		"secret.key":    "s",
		"logs/x.log":    "l",
		"logs/keep.log": "l",
		".dockerignore": "secret.key\nlogs\n!logs/keep.log\n",
	})
	s.mustDocker("build", "-q", "-t", "ign:1", ign)
	if got := s.mustDocker("run", "--rm", "ign:1", "find", "/ctx", "-type", "f"); strings.Contains(got, "secret.key") || strings.Contains(got, "x.log") || !strings.Contains(got, "keep.txt") || !strings.Contains(got, "logs/keep.log") {
		t.Errorf(".dockerignore not applied: %q", got)
	}

	// The same build again: every step from the cache, the same image.
	id1 := s.mustDocker("inspect", "-f", "{{.Id}}", "built:1")
	out2, errOut, code := s.dockerBuild("-t", "built:2", dir)
	if code != 0 {
		t.Fatalf("second build: %d\n%s\n%s", code, out2, errOut)
	}
	if strings.Contains(out2, "Running in") {
		t.Errorf("second build ran a step:\n%s", out2)
	}
	if !strings.Contains(out2, "Using cache") {
		t.Errorf("second build used no cache:\n%s", out2)
	}
	if id2 := s.mustDocker("inspect", "-f", "{{.Id}}", "built:2"); id2 != id1 {
		t.Errorf("cached build made another image: %s vs %s", id1, id2)
	}
	// Touching a copied file without changing it keeps the cache;
	// changing it rebuilds from that step on.
	os.Chtimes(filepath.Join(dir, "src", "a.txt"), timeNow(), timeNow())
	if out3 := s.mustDocker("build", dir); strings.Contains(out3, "Running in") {
		t.Errorf("build after touch ran a step:\n%s", out3)
	}
	os.WriteFile(filepath.Join(dir, "src", "a.txt"), []byte("changed\n"), 0o644)
	s.mustDocker("build", "-t", "built:3", dir)
	if got := s.mustDocker("run", "--rm", "built:3"); !strings.Contains(got, "changed\n") {
		t.Errorf("changed source not rebuilt: %q", got)
	}
	// --no-cache runs every step.
	if out4 := s.mustDocker("build", "--no-cache", "-q", dir); strings.Count(out4, "\n") != 1 || !strings.HasPrefix(out4, "sha256:") {
		t.Errorf("build -q printed %q", out4)
	}

	// ONBUILD triggers run in a child build.
	child := writeContext(t, map[string]string{"Dockerfile": "FROM built:1\nUSER 0\nRUN cat /tmp/onbuild\n"})
	outC := s.mustDocker("build", "-t", "child:1", child)
	if !strings.Contains(outC, "triggered") {
		t.Errorf("ONBUILD did not run:\n%s", outC)
	}
	if got := s.mustDocker("inspect", "-f", "{{.Config.OnBuild}}", "child:1"); got != "[]\n" {
		t.Errorf("child inherits ONBUILD: %q", got)
	}
	// history shows the shared layers.
	h1 := s.mustDocker("history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Size}}", "built:1")
	hc := s.mustDocker("history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Size}}", "child:1")
	if !strings.HasSuffix(hc, h1) {
		t.Errorf("child history does not end with the parent's:\n%s\n--\n%s", hc, h1)
	}
}

// leftovers lists the engine namespace's active snapshots and leases.
func (s *stack) buildLeftovers() []string {
	s.t.Helper()
	sup, err := client.New(s.supSock, client.WithNamespace(engine.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	defer sup.Close()
	var out []string
	snaps, err := sup.SnapshotService().List(s.t.Context(), &supervisorv1.ListSnapshotsRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, sn := range snaps.GetInfo() {
		if sn.GetKind() != supervisorv1.SnapshotKind_SNAPSHOT_KIND_COMMITTED {
			out = append(out, "snapshot "+sn.GetName())
		}
	}
	leases, err := sup.LeasesService().List(s.t.Context(), &supervisorv1.ListLeasesRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, l := range leases.GetLeases() {
		out = append(out, "lease "+l.GetId())
	}
	if ps := strings.TrimSpace(s.mustDocker("ps", "-aq")); ps != "" {
		out = append(out, "containers "+ps)
	}
	return out
}

// Failed builds give a clear error naming the line (a failing RUN its
// exit code, which the docker CLI exits with) and leave no container,
// active snapshot, lease or mount behind.
func TestBuildFailures(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	for _, tc := range []struct {
		name, dockerfile string
		code             int
		want             []string
	}{
		{"failing RUN", "FROM busybox\nRUN echo before > /f\nRUN echo output-of-run && exit 3\n", 3, []string{"output-of-run", "returned a non-zero code: 3"}},
		{"unknown instruction", "FROM busybox\nFOO bar\n", 1, []string{"line 2", "unknown instruction: FOO"}},
		{"syntax error", "FROM busybox\nENV\n", 1, []string{"line 2", "ENV"}},
		{"missing COPY source", "FROM busybox\nCOPY nosuch.txt /x\n", 1, []string{"line 2", "nosuch.txt"}},
		{"missing --from stage", "FROM busybox AS a\nFROM busybox\nCOPY --from=5 /etc/passwd /x\n", 1, []string{"line 3", "--from=5"}},
		{"no FROM", "RUN true\n", 1, []string{"no build stage"}},
		{"bad target", "FROM busybox AS a\n", 1, []string{"nosuchstage"}},
	} {
		dir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
		args := []string{"-t", "fail:1", dir}
		if tc.name == "bad target" {
			args = append([]string{"--target", "nosuchstage"}, args...)
		}
		out, errOut, code := s.dockerBuild(args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", tc.name, code, tc.code, out, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%s: output lacks %q:\n%s\n%s", tc.name, w, out, errOut)
			}
		}
	}
	if _, _, code := s.docker("image", "inspect", "fail:1"); code == 0 {
		t.Errorf("a failed build tagged its image")
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("failed builds left %v", left)
	}
	// A build cancelled by closing the connection stops its RUN container
	// and cleans up ("started" on a line of its own is the RUN's output,
	// not the step line).
	slow := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 300\n"})
	cmd := exec.Command("docker", "build", slow)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	var sout lockedBuffer
	cmd.Stdout, cmd.Stderr = &sout, &sout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300 && !strings.Contains(sout.String(), "\nstarted\n"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !strings.Contains(sout.String(), "\nstarted\n") {
		t.Fatalf("the slow build did not start: %s", sout.String())
	}
	var left []string
	for i := 0; i < 100; i++ {
		if left = s.buildLeftovers(); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("a cancelled build left %v", left)
	}

	// engined killed in the middle of a RUN: the restarted engine removes
	// the step container (and with it its snapshot).
	cmd = exec.Command("docker", "build", slow)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	var kout lockedBuffer
	cmd.Stdout, cmd.Stderr = &kout, &kout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300 && !strings.Contains(kout.String(), "\nstarted\n"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	s.kill9(s.engine)
	cmd.Wait()
	s.startEngine()
	for i := 0; i < 100; i++ {
		if left = s.buildLeftovers(); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("after kill -9 of engined mid-build: %v", left)
	}

	// Options the builder does not have are refused by name.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	for _, opt := range [][]string{{"--isolation", "hyperv"}, {"--cache-from", "busybox"}, {"--platform", "linux/s390x"}} {
		_, errOut, code := s.dockerBuild(append(opt, dir)...)
		name := strings.TrimPrefix(opt[0], "--")
		if code == 0 || !strings.Contains(errOut, "not supported") {
			t.Errorf("build %v: exit %d: %s (want a refusal naming %s)", opt, code, errOut, name)
		}
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// docker-py's images.build: build args, labels, a heredoc, the returned
// image, the log stream, and BuildError on a failing RUN.
func TestBuildDockerPy(t *testing.T) {
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG WHO=nobody\nCOPY <<EOF /greeting\nhello $WHO\nEOF\nRUN <<EOF\nset -e\necho \"built for $WHO\" > /who\nEOF\nCMD [\"cat\", \"/greeting\", \"/who\"]\n",
	})
	fail := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN exit 4\n"})
	ms := multiStageContext(t)
	script := `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=` + pyQuote(dir) + `, tag="pybuilt:1", buildargs={"WHO": "py"}, labels={"made.by": "docker-py"})
text = "".join(l.get("stream", "") for l in logs)
assert "Successfully built" in text, text
assert img.labels.get("made.by") == "docker-py", img.labels
out = c.containers.run("pybuilt:1", remove=True)
assert out == b"hello py\nbuilt for py\n", out
img2, logs2 = c.images.build(path=` + pyQuote(dir) + `, buildargs={"WHO": "py"}, labels={"made.by": "docker-py"})
assert img2.id == img.id, (img2.id, img.id)
assert "Using cache" in "".join(l.get("stream", "") for l in logs2)
ms, _ = c.images.build(path=` + pyQuote(ms) + `, tag="pyms:1")
out = c.containers.run("pyms:1", remove=True)
assert out == ` + strconv.Quote(multiStageRunOutput) + `.encode(), out
cfg = ms.attrs["Config"]
assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/srv", cfg
assert cfg["Entrypoint"] == ["/usr/local/bin/run.sh"] and cfg["Cmd"] == ["arg1"], cfg
assert "PATH=/usr/local/bin:/bin:/usr/bin" in cfg["Env"] and cfg["Labels"]["org.example.name"] == "berth test", cfg
assert sorted(cfg["ExposedPorts"]) == ["8080/tcp", "9090/udp"] and cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "true"], cfg
try:
    c.images.build(path=` + pyQuote(fail) + `)
    raise SystemExit("no BuildError")
except docker.errors.BuildError as e:
    assert "non-zero code: 4" in str(e), str(e)
print("ok")
`
	s.runDockerPy(py, script)

	// docker-compose (Debian's, on docker-py) builds a service's image.
	compose, err := exec.LookPath("docker-compose")
	testprereq.Require(t, err == nil, "docker-compose (Debian's)")
	cdir := writeContext(t, map[string]string{
		"docker-compose.yml": "version: \"3\"\nservices:\n  app:\n    build:\n      context: ./app\n      args:\n        WHO: compose\n    image: composed:1\n",
		"app/Dockerfile":     "FROM busybox\nARG WHO\nRUN echo \"by $WHO\" > /by\nCMD [\"cat\", \"/by\"]\n",
	})
	cmd := exec.Command(compose, "-p", "bt", "build")
	cmd.Dir = cdir
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose build: %v\n%s", err, out)
	}
	if got := s.mustDocker("run", "--rm", "composed:1"); got != "by compose\n" {
		t.Errorf("the compose-built image: %q", got)
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// ctl build: a Dockerfile outside the context, build args, labels,
// --target, --iidfile, the compact view with per-step times, CACHED on a
// rebuild, and a failing RUN's exit code as ctl's.
func TestBuildCtl(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{"data.txt": "data\n"})
	df := filepath.Join(t.TempDir(), "my.Dockerfile")
	os.WriteFile(df, []byte("FROM busybox AS base\nARG V=default\nCOPY . /ctx/\nRUN echo \"v=$V\" > /v && echo ran-step\n\nFROM base AS final\nCMD [\"sh\", \"-c\", \"cat /v; ls /ctx\"]\n\nFROM final AS other\nRUN exit 9\n"), 0o644)
	iid := filepath.Join(t.TempDir(), "iid")
	out := s.mustRun("build", "-f", df, "--build-arg", "V=given", "--label", "a=b", "--target", "final", "--iidfile", iid, "-t", "ctlbuilt:1", dir)
	for _, want := range []string{"[1/", "] RUN echo", "    ran-step", "Successfully tagged ctlbuilt:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl build output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "exit 9") {
		t.Errorf("--target built a later stage:\n%s", out)
	}
	b, _ := os.ReadFile(iid)
	if id := s.mustDocker("inspect", "-f", "{{.Id}}", "ctlbuilt:1"); strings.TrimSpace(id) != string(b) {
		t.Errorf("iidfile %q, image %q", b, id)
	}
	if got := s.mustDocker("run", "--rm", "ctlbuilt:1"); got != "v=given\ndata.txt\n" {
		t.Errorf("run: %q", got)
	}
	if got := s.mustDocker("inspect", "-f", "{{.Config.Labels.a}}", "ctlbuilt:1"); got != "b\n" {
		t.Errorf("label: %q", got)
	}
	// The steps' images are hidden from `docker images`, listed with -a.
	if imgs := s.mustDocker("images", "--format", "{{.Repository}}"); strings.Contains(imgs, "<none>") {
		t.Errorf("docker images lists the build's intermediate images:\n%s", imgs)
	}
	if imgs := s.mustDocker("images", "-a", "--format", "{{.Repository}}"); !strings.Contains(imgs, "<none>") {
		t.Errorf("docker images -a hides the build's intermediate images:\n%s", imgs)
	}
	again := s.mustRun("build", "-f", df, "--build-arg", "V=given", "--label", "a=b", "--target", "final", dir)
	if !strings.Contains(again, "CACHED") || strings.Contains(again, "    ran-step") {
		t.Errorf("rebuild not cached:\n%s", again)
	}
	_, errOut, code := s.run("build", "-f", df, dir)
	if code != 9 || !strings.Contains(errOut, "non-zero code: 9") {
		t.Errorf("failing build: exit %d: %s", code, errOut)
	}
	// The multi-stage Dockerfile with every instruction.
	s.mustRun("build", "-t", "ctlms:1", multiStageContext(t))
	if got := s.mustDocker("run", "--rm", "ctlms:1"); got != multiStageRunOutput {
		t.Errorf("run of the multi-stage image: %q", got)
	}
	ins := s.mustDocker("inspect", "-f", "{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.Entrypoint}}|{{index .Config.Labels \"org.example.name\"}}|{{.Config.ExposedPorts}}|{{.Config.Healthcheck.Test}}", "ctlms:1")
	if want := "1000:1000|/srv|[/usr/local/bin/run.sh]|berth test|map[8080/tcp:{} 9090/udp:{}]|[CMD-SHELL true]\n"; ins != want {
		t.Errorf("inspect: %q, want %q", ins, want)
	}
}

// RUN --mount: a cache mount keeps its contents across builds (and
// `builder prune` removes it), a tmpfs is empty and not in the image, a
// bind of a context directory is read-only and its content is part of the
// cache key.
func TestBuildRunMounts(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\n" +
			"RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n" +
			"RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && test ! -e /scratch/g\n" +
			"RUN --mount=type=bind,source=conf,target=/conf cp /conf/c.txt /c.txt && ! touch /conf/new 2>/dev/null\n",
		"conf/c.txt": "one\n",
	})
	s.mustDocker("build", "-t", "mnt:1", dir)
	if got := s.mustDocker("run", "--rm", "mnt:1", "sh", "-c", "cat /count /c.txt; ls -d /scratch /cache /conf 2>/dev/null | wc -l"); got != "1\none\n0\n" {
		t.Errorf("first build: %q", got)
	}
	s.mustDocker("build", "--no-cache", "-t", "mnt:2", dir)
	if got := s.mustDocker("run", "--rm", "mnt:2", "cat", "/count"); got != "2\n" {
		t.Errorf("the cache mount did not keep its contents: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "conf", "c.txt"), []byte("two\n"), 0o644)
	s.mustDocker("build", "-t", "mnt:3", dir)
	if got := s.mustDocker("run", "--rm", "mnt:3", "cat", "/c.txt"); got != "two\n" {
		t.Errorf("a changed bind source did not rebuild: %q", got)
	}
	if !strings.Contains(s.mustDocker("volume", "ls", "-q"), "berth-build-cache-") {
		t.Errorf("no cache volume")
	}
	s.mustDocker("builder", "prune", "-f")
	if strings.Contains(s.mustDocker("volume", "ls", "-q"), "berth-build-cache-") {
		t.Errorf("builder prune left the cache volume")
	}
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=ssh cat /x\n"})
	if _, errOut, code := s.dockerBuild(bad); code == 0 || !strings.Contains(errOut, "type=ssh is not supported") {
		t.Errorf("ssh mount: %d %s", code, errOut)
	}
}
