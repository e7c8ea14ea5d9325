package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// testRegistry is Debian's docker-registry on 127.0.0.1 at a free port,
// serving a temp dir; with a user and password when started with auth.
type testRegistry struct {
	host, user, password string
}

func startTestRegistry(t *testing.T, withAuth bool) *testRegistry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	testprereq.Require(t, err == nil, "docker-registry (Debian package docker-registry)")
	dir, err := os.MkdirTemp("", "breg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &testRegistry{}
	authCfg := ""
	if withAuth {
		htpasswd, err := exec.LookPath("htpasswd")
		testprereq.Require(t, err == nil, "htpasswd (Debian package apache2-utils)")
		r.user, r.password = "e2e", "pw-e2e-1"
		out, err := exec.Command(htpasswd, "-Bbn", r.user, r.password).Output()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		authCfg = "auth:\n  htpasswd:\n    realm: e2e\n    path: " + filepath.Join(dir, "htpasswd") + "\n"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.host = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n%s", filepath.Join(dir, "data"), r.host, authCfg)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	for i := 0; i < 200; i++ {
		if resp, err := http.Get("http://" + r.host + "/v2/"); err == nil {
			resp.Body.Close()
			return r
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited:\n%s", b)
		case <-time.After(25 * time.Millisecond):
		}
	}
	t.Fatal("docker-registry did not answer")
	return nil
}

// dockerCLI runs the docker CLI against the stack's engined with a private
// config dir (where registry credentials go).
type dockerCLI struct {
	t      *testing.T
	bin    string
	env    []string
	config string
}

func newDockerCLI(t *testing.T, s *stack) *dockerCLI {
	bin, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	cfg := filepath.Join(s.root, "dockercfg")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		t.Fatal(err)
	}
	return &dockerCLI{t: t, bin: bin, config: cfg, env: append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+cfg)}
}

func (d *dockerCLI) run(args ...string) (string, string, error) {
	d.t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Env = d.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

func (d *dockerCLI) must(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("docker %v: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	return out
}

// login stores credentials in the docker config, as `docker login` would.
func (d *dockerCLI) login(host, user, password string) {
	d.t.Helper()
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	if err := os.WriteFile(filepath.Join(d.config, "config.json"), []byte(cfg), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

func tarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "./")] = b
	}
}

var digestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)`)

// The docker CLI pushes to and pulls from a real registry through engined,
// tags, lists, shows history and removes, and skopeo reads what we pushed.
func TestImagesDockerPushPull(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	reg := startTestRegistry(t, false)
	tarPath := filepath.Join(s.root, "busybox.tar")
	if err := image.WriteDockerArchive(tarPath, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	d.must("load", "-i", tarPath)
	id := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "busybox"))

	ref := reg.host + "/e2e/busybox:v1"
	d.must("tag", "busybox", ref)
	out := d.must("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	if !strings.Contains(out, ref+" "+id[7:19]) {
		t.Errorf("docker images after tag:\n%s", out)
	}
	out = d.must("push", ref)
	m := digestRE.FindStringSubmatch(out)
	if !strings.Contains(out, "The push refers to repository ["+reg.host+"/e2e/busybox]") || m == nil {
		t.Fatalf("docker push output:\n%s", out)
	}
	pushed := m[1]
	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		sk, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "docker://"+ref).Output()
		var info struct{ Digest string }
		if err != nil || json.Unmarshal(sk, &info) != nil || info.Digest != pushed {
			t.Errorf("skopeo inspect of the pushed image: %v %s (pushed %s)", err, sk, pushed)
		}
	} else {
		testprereq.Require(t, false, "skopeo")
	}
	// Pushed again: every layer is already there.
	if out := d.must("push", ref); !strings.Contains(out, "Layer already exists") || !strings.Contains(out, pushed) {
		t.Errorf("second push:\n%s", out)
	}

	out = d.must("rmi", ref)
	if !strings.Contains(out, "Untagged: "+ref) || strings.Contains(out, "Deleted:") {
		t.Errorf("rmi of one of two names:\n%s", out)
	}
	out = d.must("pull", ref)
	if !strings.Contains(out, "v1: Pulling from e2e/busybox") || !strings.Contains(out, "Digest: "+pushed) || !strings.Contains(out, "Status: ") || !strings.HasSuffix(out, ref+"\n") {
		t.Errorf("docker pull:\n%s", out)
	}
	if got := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}} {{index .RepoDigests 0}}", ref)); got != id+" "+reg.host+"/e2e/busybox@"+pushed {
		t.Errorf("pulled image: %q, want ID %s digest %s", got, id, pushed)
	}
	// By digest, into a fresh name.
	d.must("rmi", ref)
	out = d.must("pull", reg.host+"/e2e/busybox@"+pushed)
	if !strings.Contains(out, "Digest: "+pushed) {
		t.Errorf("pull by digest:\n%s", out)
	}
	compareImagesWithDocker(t, s, d, ref)
	// docker-py reads the same streams.
	if py, err := exec.LookPath("python3"); err == nil && exec.Command(py, "-c", "import docker").Run() == nil {
		script := `import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
repo = sys.argv[2]
img = c.images.pull(repo, tag="v1")
print(img.id)
last = list(c.api.push(repo, tag="v1", stream=True, decode=True))[-1]
print(last["aux"]["Digest"])
print(len(c.api.history(img.id)))
`
		out, err := exec.Command(py, "-c", script, s.engSock, reg.host+"/e2e/busybox").CombinedOutput()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 3 || f[0] != id || f[1] != pushed || f[2] == "0" {
			t.Errorf("docker-py pull/push/history: %v\n%s", err, out)
		}
	} else {
		testprereq.Require(t, false, "docker-py (Debian package python3-docker)")
	}
	if _, errOut, err := d.run("pull", reg.host+"/e2e/nosuch:v1"); err == nil || !strings.Contains(errOut, "Error response from daemon") {
		t.Errorf("pull of a missing repository: %v %q", err, errOut)
	}

	out = d.must("history", "busybox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "IMAGE") || !strings.HasPrefix(lines[1], id[7:19]) {
		t.Errorf("docker history:\n%s", out)
	}
	var hist []struct {
		ID, Size, CreatedBy string
	}
	for _, l := range strings.Split(strings.TrimSpace(d.must("history", "--format", "{{json .}}", "--human=false", "busybox")), "\n") {
		var h struct{ ID, Size, CreatedBy string }
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("history json %q: %v", l, err)
		}
		hist = append(hist, h)
	}
	var layerBytes int
	for _, h := range hist {
		var n int
		fmt.Sscanf(h.Size, "%d", &n)
		layerBytes += n
	}
	if layerBytes < 500_000 {
		t.Errorf("history layer sizes add up to %d bytes, busybox alone is bigger: %+v", layerBytes, hist)
	}

	// A container keeps its image: removing the image by ID is refused
	// unless forced, and even then the container keeps its filesystem.
	d.must("create", "--name", "keeper", "busybox", "true")
	if _, errOut, err := d.run("rmi", id); err == nil || !strings.Contains(errOut, "conflict: unable to delete "+id[7:19]) {
		t.Errorf("rmi by ID of a used image: %v %q", err, errOut)
	}
	out = d.must("rmi", "-f", id)
	if !strings.Contains(out, "Untagged: busybox:latest") || strings.Contains(out, "Deleted:") {
		t.Errorf("rmi -f of a used image:\n%s", out)
	}
	if out, errOut, err := d.run("start", "-a", "keeper"); err != nil {
		t.Errorf("container of a removed image does not start: %v %s %s", err, out, errOut)
	}
	d.must("rm", "keeper")
}

// compareImagesWithDocker: `ctl images` prints what `docker images` prints
// on the same engine, with an image of two tags in one repository, one
// with a repository digest (pulled, ref's repository) and a dangling one.
// Lines are compared sorted but for a table's header: the docker CLI
// orders an image's repositories as a map, at random.
func compareImagesWithDocker(t *testing.T, s *stack, d *dockerCLI, ref string) {
	t.Helper()
	d.must("tag", "busybox", "e2e-two:a")
	d.must("tag", "busybox", "e2e-two:b")
	d.must("create", "--name", "imgsrc", "busybox", "true")
	d.must("commit", "imgsrc")
	d.must("commit", "imgsrc", "e2e-committed:1")
	repo := ref[:strings.LastIndex(ref, ":")]
	sorted := func(out string) string {
		lines := strings.Split(out, "\n")
		first := 0
		if len(lines) > 0 && strings.HasPrefix(lines[0], "REPOSITORY") {
			first = 1
		}
		slices.Sort(lines[first:])
		return strings.Join(lines, "\n")
	}
	// The committed images' ages move while the two run: failing the
	// exact comparison, a CREATED of seconds, and the spaces it sets, are
	// left out.
	recent := regexp.MustCompile(`(Less than a second|[0-9]+ seconds?) ago *`)
	loose := func(out string) string {
		lines := strings.Split(recent.ReplaceAllString(out, ""), "\n")
		for i, l := range lines {
			lines[i] = strings.Join(strings.Fields(l), " ")
		}
		return sorted(strings.Join(lines, "\n"))
	}
	for _, args := range [][]string{
		{}, {"-a"}, {"-q"}, {"--digests"}, {"--no-trunc"}, {"--format", "json"}, {"--format", "table"},
		{"--format", "raw"}, {"--format", "{{.Repository}}:{{.Tag}} {{.Digest}} {{.ID}}"},
		{"--format", "table {{.Repository}}\\t{{.Tag}}", "--digests"}, {"-q", "--format", "{{.Repository}}"},
		{"--filter", "dangling=true"}, {"--filter", "reference=e2e-two"}, {"--filter", "reference=" + repo},
		{"--filter", "reference=e2e-two", "--digests"}, {"e2e-two:b"}, {"ls"},
	} {
		args = append([]string{"images"}, args...)
		dout, derr, err := d.run(args...)
		if err != nil {
			t.Errorf("docker %v: %v %s", args, err, derr)
			continue
		}
		cout, cerr, code := s.run(args...)
		if code != 0 || cerr != derr || sorted(cout) != sorted(dout) && loose(cout) != loose(dout) {
			t.Errorf("ctl %v: %d\n%s%s\ndocker's:\n%s%s", args, code, cout, cerr, dout, derr)
		}
	}
	d.must("rm", "imgsrc")
	d.must("rmi", "e2e-two:a", "e2e-two:b", "e2e-committed:1")
	d.must("image", "prune", "-f")
}

// Basic auth: credentials from the docker config go through engined to the
// supervisor; without them the registry refuses.
func TestImagesRegistryAuth(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	reg := startTestRegistry(t, true)
	s.loadBusybox()
	ref := reg.host + "/auth/busybox:v1"
	d.must("tag", "busybox", ref)
	if _, errOut, err := d.run("push", ref); err == nil {
		t.Errorf("push without credentials succeeded: %s", errOut)
	}
	d.login(reg.host, reg.user, reg.password)
	out := d.must("push", ref)
	if digestRE.FindStringSubmatch(out) == nil {
		t.Fatalf("push with credentials:\n%s", out)
	}
	d.must("rmi", ref)
	if out := d.must("pull", ref); !strings.Contains(out, "Status: ") {
		t.Errorf("pull with credentials:\n%s", out)
	}
	// ctl reads the same docker config.
	s.mustRun("rmi", ref)
	cmd := s.ctl("pull", ref)
	cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+d.config)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Pull complete") && !strings.Contains(string(out), "Already exists") {
		t.Errorf("ctl pull with credentials: %v\n%s", err, out)
	}
}

// save then load round-trips IDs and digests; podman loads what we save.
func TestImagesSaveLoadPodman(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	s.loadBusybox()
	d.must("tag", "busybox", "example.com/team/bb:1")
	before := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "busybox"))
	a := filepath.Join(s.root, "a.tar")
	d.must("save", "-o", a, "busybox", "example.com/team/bb:1")
	files := tarFiles(t, a)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) == 0 {
		t.Fatalf("manifest.json of the save: %v %s", err, files["manifest.json"])
	}
	var tags []string
	for _, m := range manifest {
		if !strings.Contains(m.Config, before[7:]) {
			t.Errorf("saved manifest %+v, image %s", m, before)
		}
		tags = append(tags, m.RepoTags...)
	}
	if strings.Join(tags, ",") != "busybox:latest,example.com/team/bb:1" {
		t.Errorf("saved names: %v", tags)
	}
	d.must("rmi", "busybox", "example.com/team/bb:1")
	if out := d.must("images", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("images left: %q", out)
	}
	out := d.must("load", "-i", a)
	if !strings.Contains(out, "Loaded image: busybox:latest") || !strings.Contains(out, "Loaded image: example.com/team/bb:1") {
		t.Errorf("docker load:\n%s", out)
	}
	if after := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "example.com/team/bb:1")); after != before {
		t.Errorf("image ID after save+load: %s, was %s", after, before)
	}
	// Saved again, the archive names the same blobs.
	b := filepath.Join(s.root, "b.tar")
	s.mustRun("save", "-o", b, "busybox", "example.com/team/bb:1")
	files2 := tarFiles(t, b)
	if !bytes.Equal(files["manifest.json"], files2["manifest.json"]) {
		t.Errorf("manifest.json differs between saves:\n%s\n%s", files["manifest.json"], files2["manifest.json"])
	}
	for _, l := range manifest[0].Layers {
		if !bytes.Equal(files[l], files2[l]) {
			t.Errorf("layer %s differs between saves", l)
		}
	}

	podman, err := exec.LookPath("podman")
	testprereq.Require(t, err == nil, "podman (Debian package podman)")
	proot := filepath.Join(s.root, "podman")
	pargs := []string{"--root", filepath.Join(proot, "root"), "--runroot", filepath.Join(proot, "run"), "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "vfs"}
	t.Cleanup(func() {
		exec.Command(podman, append(pargs, "system", "reset", "-f")...).Run()
		exec.Command("umount", "-R", filepath.Join(proot, "root")).Run()
	})
	pout, err := exec.Command(podman, append(pargs, "load", "-i", b)...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman load: %v\n%s", err, pout)
	}
	pout, err = exec.Command(podman, append(pargs, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")...).CombinedOutput()
	if err != nil || !strings.Contains(string(pout), before[7:]+" example.com/team/bb:1") {
		t.Errorf("podman images after load: %v\n%s", err, pout)
	}
}

// docker export gives the container's filesystem, with what it wrote; df
// counts images and containers.
func TestImagesExportAndDF(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	s.loadBusybox()
	d.must("run", "--name", "writer", "busybox", "sh", "-c", "echo from-the-container > /written.txt && mkdir -p /data && head -c 100000 /dev/zero > /data/zeros && rm /bin/true")
	out := filepath.Join(s.root, "exp.tar")
	d.must("export", "-o", out, "writer")
	files := tarFiles(t, out)
	if len(files["bin/busybox"]) < 100_000 || string(files["written.txt"]) != "from-the-container\n" || len(files["data/zeros"]) != 100000 {
		t.Errorf("export lacks busybox or the written files (%d entries)", len(files))
	}
	if _, ok := files["bin/true"]; ok {
		t.Error("export has a file the container deleted")
	}
	if _, ok := files["bin/sh"]; !ok {
		t.Error("export lacks bin/sh")
	}
	// A running container's layer is in use by its own overlay mount: the
	// export still reads it.
	d.must("run", "-d", "--name", "runner", "busybox", "sh", "-c", "echo live > /live.txt; exec sleep 300")
	live := filepath.Join(s.root, "live.tar")
	for i := 0; ; i++ {
		d.must("export", "-o", live, "runner")
		if string(tarFiles(t, live)["live.txt"]) == "live\n" {
			break
		}
		if i == 100 {
			t.Fatal("export of the running container never showed its file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.must("rm", "-f", "runner")
	df := d.must("system", "df")
	lines := strings.Split(strings.TrimSpace(df), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "Images") || !strings.HasPrefix(lines[2], "Containers") {
		t.Fatalf("docker system df:\n%s", df)
	}
	if f := strings.Fields(lines[1]); f[1] != "1" || f[2] != "1" {
		t.Errorf("df images line: %q", lines[1])
	}
	v := d.must("system", "df", "-v", "--format", "{{json .}}")
	if !strings.Contains(v, "writer") {
		t.Errorf("df -v lacks the container:\n%s", v)
	}
	var cs struct {
		Containers []struct {
			Names string
			Size  string
		}
	}
	if err := json.Unmarshal([]byte(v), &cs); err == nil && len(cs.Containers) == 1 && !strings.HasPrefix(cs.Containers[0].Size, "1") {
		t.Errorf("writer's size %q, it wrote 100kB", cs.Containers[0].Size)
	}
	d.must("rm", "writer")
	// Unused now: prune -a removes it and reports space.
	pr := d.must("image", "prune", "-a", "-f")
	if !strings.Contains(pr, "deleted: sha256:") || !strings.Contains(pr, "Total reclaimed space:") {
		t.Errorf("image prune -a:\n%s", pr)
	}
}
