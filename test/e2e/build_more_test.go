package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The docker build options dockerd applies to every RUN container
// (resources, ulimits, extra hosts, /dev/shm size, security options)
// reach the RUN step.
func TestBuildRunResources(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares; grep myhost /etc/hosts; df -k /dev/shm | tail -1; ulimit -n; grep NoNewPrivs /proc/self/status\n"})
	out, errOut, code := s.dockerBuild("--memory", "64m", "--cpu-shares", "512", "--add-host", "myhost:1.2.3.4", "--shm-size", "32m",
		"--ulimit", "nofile=512:512", "--security-opt", "no-new-privileges", dir)
	if code != 0 {
		t.Fatalf("docker build: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"\n67108864\n512\n", "1.2.3.4\tmyhost\n", " 32768 ", "\n512\n", "NoNewPrivs:\t1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("RUN output lacks %q:\n%s", want, out)
		}
	}
	// A bad value is the container code's error, before any step runs.
	if _, errOut, code := s.dockerBuild("--no-cache", "--cpuset-cpus", "9999", dir); code == 0 || !strings.Contains(errOut, "9999") {
		t.Errorf("--cpuset-cpus 9999: exit %d: %s", code, errOut)
	}
}

// Two images built from the same start share their first layers: the
// second build takes them from the cache, and `docker history` names the
// same step images for them, as dockerd does.
func TestBuildHistorySharedLayers(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	common := "FROM busybox\nRUN echo base > /base\nCOPY x.txt /x.txt\n"
	a := writeContext(t, map[string]string{"Dockerfile": common + "RUN echo one > /one\n", "x.txt": "x\n"})
	b := writeContext(t, map[string]string{"Dockerfile": common + "RUN echo two > /two\n", "x.txt": "x\n"})
	s.mustDocker("build", "-t", "hist:a", a)
	outB := s.mustDocker("build", "-t", "hist:b", b)
	if strings.Count(outB, "Using cache") != 2 {
		t.Errorf("the second image did not take the shared steps from the cache:\n%s", outB)
	}
	ha := strings.Split(strings.TrimSpace(s.mustDocker("history", "-q", "--no-trunc", "hist:a")), "\n")
	hb := strings.Split(strings.TrimSpace(s.mustDocker("history", "-q", "--no-trunc", "hist:b")), "\n")
	if len(ha) != 4 || len(hb) != 4 {
		t.Fatalf("histories: %v %v", ha, hb)
	}
	bb := strings.TrimSpace(s.mustDocker("inspect", "-f", "{{.Id}}", "busybox"))
	if ha[0] == hb[0] || ha[1] != hb[1] || ha[2] != hb[2] || ha[3] != bb || strings.Contains(strings.Join(ha, " "), "missing") {
		t.Errorf("history does not show the shared step images:\n%v\n%v", ha, hb)
	}
	if code, body := s.http("GET", "/images/hist:a/history", "", nil); code != 200 || !strings.Contains(body, `"Tags":["busybox:latest"]`) {
		t.Errorf("the base's tags are not in the history: %d %s", code, body)
	}
}

// The `# check` directive configures buildkit's lint rules: violations
// are printed with their line, skip= silences a rule, error=true fails the
// build before any step runs, BUILDKIT_DOCKERFILE_CHECK overrides it.
func TestBuildCheckDirective(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	df := "FROM busybox as base\nRUN echo ran-a-step\nMAINTAINER someone\n"
	dir := writeContext(t, map[string]string{"Dockerfile": "# check=skip=MaintainerDeprecated\n" + df})
	out, errOut, code := s.dockerBuild(dir)
	if code != 0 || !strings.Contains(out, "WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)") || strings.Contains(out, "MaintainerDeprecated") {
		t.Errorf("warnings: exit %d\n%s\n%s", code, out, errOut)
	}
	strict := writeContext(t, map[string]string{"Dockerfile": "# check=error=true\n" + df})
	out, errOut, code = s.dockerBuild(strict)
	if code == 0 || !strings.Contains(errOut, "lint violation found for rules") || !strings.Contains(errOut, "FromAsCasing") || strings.Contains(out, "ran-a-step") {
		t.Errorf("error=true: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := s.dockerBuild("--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=all", strict); code != 0 || strings.Contains(out, "WARN") || strings.Contains(out, "not consumed") {
		t.Errorf("BUILDKIT_DOCKERFILE_CHECK=skip=all: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := writeContext(t, map[string]string{"Dockerfile": "# check=nosuch=1\nFROM busybox\n"})
	if _, errOut, code := s.dockerBuild(bad); code == 0 || !strings.Contains(errOut, "invalid check option") {
		t.Errorf("bad # check: exit %d %s", code, errOut)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}

// RUN --mount=type=secret: ctl build --secret gives a secret (a file or
// an environment variable) that RUN reads at /run/secrets/ID (mode 0400)
// or a target with mode/uid, or as an env var; it is in no layer, no
// history and no cache key; a missing optional secret is skipped (the
// docker CLI's classic builder can send none), a required one is an error
// naming it.
func TestBuildSecrets(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN --mount=type=secret,id=tok cat /run/secrets/tok && echo && stat -c '%a %u' /run/secrets/tok\n" +
		"RUN --mount=type=secret,id=tok,env=TOKEN,target=/s/t,mode=0440,uid=1000 echo \"env=$TOKEN\" && stat -c '%a %u' /s/t\n" +
		"RUN --mount=type=secret,id=fromenv,env=FE echo \"fe=$FE\"\n" +
		"RUN --mount=type=secret,id=opt test ! -e /run/secrets/opt && echo optional-skipped\n"})
	secFile := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(secFile, []byte("s3cret"), 0o600)
	cmd := s.ctl("build", "--secret", "id=tok,src="+secFile, "--secret", "id=fromenv,env=MY_ENV_SECRET", "-t", "sec:1", dir)
	cmd.Env = append(cmd.Env, "MY_ENV_SECRET=from-env")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("ctl build --secret: %v\n%s", err, out)
	}
	for _, want := range []string{"    s3cret\n    400 0\n", "    env=s3cret\n", "    440 1000\n", "    fe=from-env\n", "    optional-skipped\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if got := s.mustDocker("run", "--rm", "sec:1", "sh", "-c", "ls -A /run/secrets /s; grep -rl s3cret /etc /run /s /root /tmp; env | grep -c s3cret; true"); got != "/run/secrets:\n\n/s:\n0\n" {
		t.Errorf("the image holds a secret: %q", got)
	}
	if h := s.mustDocker("history", "--no-trunc", "sec:1"); strings.Contains(h, "s3cret") || strings.Contains(h, "from-env") {
		t.Errorf("the history holds a secret:\n%s", h)
	}
	// Another value of the secret is no cache miss (as BuildKit).
	os.WriteFile(secFile, []byte("other"), 0o600)
	cmd = s.ctl("build", "--secret", "id=tok,src="+secFile, "--secret", "id=fromenv,env=MY_ENV_SECRET", dir)
	cmd.Env = append(cmd.Env, "MY_ENV_SECRET=from-env")
	if b, err := cmd.CombinedOutput(); err != nil || strings.Count(string(b), "CACHED") != 4 {
		t.Errorf("rebuild with another secret value: %v\n%s", err, b)
	}
	// The docker CLI cannot send secrets: optional mounts are skipped, a
	// required one fails naming it, and nothing is left.
	opt := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=opt echo no-secret-ok\n"})
	if out, errOut, code := s.dockerBuild(opt); code != 0 || !strings.Contains(out, "no-secret-ok") {
		t.Errorf("optional secret: exit %d\n%s\n%s", code, out, errOut)
	}
	req := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=needed,required cat /run/secrets/needed\n"})
	if _, errOut, code := s.dockerBuild(req); code == 0 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "secret needed not found") {
		t.Errorf("required secret: exit %d %s", code, errOut)
	}
	if _, errOut, code := s.run("build", "--secret", "id=x,src=/nonexistent/file", dir); code == 0 || !strings.Contains(errOut, "/nonexistent/file") {
		t.Errorf("ctl --secret of a missing file: exit %d %s", code, errOut)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "eng", "tmp", "build")); len(ents) > 0 {
		t.Errorf("secret files left in the builder's tmp: %v", ents)
	}
}

// `docker system df` shows the build cache (a record per cached step
// image and per RUN cache mount); `docker builder prune` forgets it,
// removes the step images nothing else needs and the cache mounts, and
// reports the space freed; tagged images and their steps stay.
func TestBuildCacheDiskUsage(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 300000 /dev/zero > /big\nRUN --mount=type=cache,target=/c echo x > /c/x\nLABEL a=b\n"})
	s.mustDocker("build", "-t", "df:kept", dir)
	// An image built, then untagged: its steps are cache only.
	other := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 200000 /dev/zero > /other\nRUN false || true\n"})
	s.mustDocker("build", "-t", "df:tmp", other)
	s.mustDocker("rmi", "df:tmp")
	df := s.mustDocker("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
	if !strings.Contains(df, "Build Cache ") || strings.Contains(df, "Build Cache 0") {
		t.Fatalf("system df shows no build cache:\n%s", df)
	}
	v := s.mustDocker("system", "df", "-v")
	if !strings.Contains(v, "exec.cachemount") || !strings.Contains(v, "regular") {
		t.Errorf("system df -v lacks the cache records:\n%s", v)
	}
	out := s.mustDocker("builder", "prune", "-f")
	if !strings.Contains(out, "berth-build-cache-") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("builder prune:\n%s", out)
	}
	if df := s.mustDocker("system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(df, "Build Cache 0") {
		t.Errorf("after prune:\n%s", df)
	}
	// The tagged image and its steps stay; a rebuild runs its steps again.
	if got := s.mustDocker("run", "--rm", "df:kept", "wc", "-c", "/big"); got != "300000 /big\n" {
		t.Errorf("kept image: %q", got)
	}
	if out := s.mustDocker("build", dir); !strings.Contains(out, "Running in") {
		t.Errorf("a build after prune used the cache:\n%s", out)
	}
}

// Independent stages build in parallel: two stages wait for each other
// through a shared cache mount (each would time out alone); the stream
// still reads as a sequential build (steps in order), the unneeded stage
// is skipped, and a failing stage cancels the others and leaves nothing.
func TestBuildParallelStages(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	wait := func(me, other string) string {
		return "RUN --mount=type=cache,id=rendezvous,target=/r touch /r/" + me + " && i=0 && while [ ! -e /r/" + other + " ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done && test -e /r/" + other + " && echo " + me + " > /" + me + "\n"
	}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox AS a\n" + wait("a", "b") +
		"FROM busybox AS b\n" + wait("b", "a") +
		"FROM busybox AS unused\nRUN echo never-built\n" +
		"FROM a\nCOPY --from=b /b /b\nRUN cat /a /b\n"})
	out, errOut, code := s.dockerBuild("-t", "par:1", dir)
	if code != 0 {
		t.Fatalf("parallel stages: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "never-built") || !strings.Contains(out, "a\nb\n") {
		t.Errorf("output:\n%s", out)
	}
	last := 0
	for _, line := range strings.Split(out, "\n") {
		var n, m int
		if _, err := fmt.Sscanf(line, "Step %d/%d", &n, &m); err == nil {
			if n != last+1 || m != 7 {
				t.Errorf("steps out of order at %q (last %d):\n%s", line, last, out)
			}
			last = n
		}
	}
	if last != 7 {
		t.Errorf("%d steps shown:\n%s", last, out)
	}
	// A failing stage cancels the one still running.
	fail := writeContext(t, map[string]string{"Dockerfile": "FROM busybox AS slow\nRUN sleep 60 && echo slow-$((1+1))-done\n" +
		"FROM busybox AS bad\nRUN exit 6\n" +
		"FROM slow\nCOPY --from=bad /etc/passwd /x\n"})
	out, errOut, code = s.dockerBuild(fail)
	if code != 6 || strings.Contains(out, "slow-2-done") || !strings.Contains(errOut, "non-zero code: 6") {
		t.Errorf("failing stage: exit %d\n%s\n%s", code, out, errOut)
	}
	if left := s.buildLeftovers(); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}
