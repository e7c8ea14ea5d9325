package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cpHostTree makes dir/f ("hello\n") and dir/d/g ("gee\n") on the host.
func cpHostTree(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "d", "g"), []byte("gee\n"), 0o640)
}

func readHostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("read %s: %v", p, err)
	}
	return string(b)
}

// docker cp both ways on a running container: file into a dir, a dir
// into a new name, "/." into a volume (which gets it, not the rootfs
// under it), a directory out, "/." out, -a keeping owners, and a
// missing path with dockerd's error.
func TestCpDockerRunning(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "host")
	cpHostTree(t, host)
	s.mustDocker("run", "-d", "--name", "cr", "-v", "cpvol:/data", "busybox", "sleep", "1000")

	s.mustDocker("cp", filepath.Join(host, "f"), "cr:/tmp/")
	if out := s.mustDocker("exec", "cr", "cat", "/tmp/f"); out != "hello\n" {
		t.Errorf("file into dir: %q", out)
	}
	s.mustDocker("cp", filepath.Join(host, "d"), "cr:/tmp/newname")
	if out := s.mustDocker("exec", "cr", "cat", "/tmp/newname/g"); out != "gee\n" {
		t.Errorf("dir into a new name: %q", out)
	}
	s.mustDocker("cp", filepath.Join(host, "d")+"/.", "cr:/data/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "cpvol", "_data", "g")); got != "gee\n" {
		t.Errorf("dir content into the volume: %q", got)
	}

	s.mustDocker("exec", "cr", "sh", "-c", "mkdir -p /srcd/sub && echo a > /srcd/a && echo b > /srcd/sub/b")
	out := filepath.Join(s.root, "out")
	os.MkdirAll(out, 0o755)
	s.mustDocker("cp", "cr:/srcd", out)
	if got := readHostFile(t, filepath.Join(out, "srcd", "sub", "b")); got != "b\n" {
		t.Errorf("dir out: %q", got)
	}
	out2 := filepath.Join(s.root, "out2")
	os.MkdirAll(out2, 0o755)
	s.mustDocker("cp", "cr:/srcd/.", out2)
	if got := readHostFile(t, filepath.Join(out2, "a")); got != "a\n" {
		t.Errorf("dir/. out: %q", got)
	}
	// The volume, read back through the container's view.
	s.mustDocker("cp", "cr:/data/g", filepath.Join(s.root, "g.out"))
	if got := readHostFile(t, filepath.Join(s.root, "g.out")); got != "gee\n" {
		t.Errorf("file out of the volume: %q", got)
	}

	owned := filepath.Join(s.root, "owned")
	os.WriteFile(owned, []byte("o\n"), 0o600)
	os.Chown(owned, 1234, 2345)
	s.mustDocker("cp", "-a", owned, "cr:/tmp/owned")
	if got := s.mustDocker("exec", "cr", "stat", "-c", "%u:%g:%a", "/tmp/owned"); got != "1234:2345:600\n" {
		t.Errorf("-a owner: %q", got)
	}

	// A running read-only container: its rootfs and :ro mounts refuse.
	ro := filepath.Join(s.root, "robind")
	os.MkdirAll(ro, 0o755)
	s.mustDocker("run", "-d", "--name", "rro", "--read-only", "-v", ro+":/robind:ro", "busybox", "sleep", "1000")
	if _, errOut, code := s.docker("cp", filepath.Join(host, "f"), "rro:/tmp/"); code == 0 || !strings.Contains(errOut, "container rootfs is marked read-only") {
		t.Errorf("cp into a running read-only rootfs: exit %d %q", code, errOut)
	}
	if _, errOut, code := s.docker("cp", filepath.Join(host, "f"), "rro:/robind/"); code == 0 || !strings.Contains(errOut, "mounted volume is marked read-only") {
		t.Errorf("cp into a running :ro bind: exit %d %q", code, errOut)
	}

	_, errOut, code := s.docker("cp", "cr:/nope", out)
	if code == 0 || !strings.Contains(errOut, "Could not find the file /nope in container cr") {
		t.Errorf("cp of a missing path: exit %d %q", code, errOut)
	}
	_, errOut, code = s.docker("cp", filepath.Join(host, "f"), "cr:/nodir/x")
	if code == 0 || !strings.Contains(errOut, "Could not find the file /nodir in container cr") {
		t.Errorf("cp into a missing dir: exit %d %q", code, errOut)
	}
}

// docker cp into and out of containers that never ran and that stopped,
// their volumes included; a read-only rootfs and a :ro bind refuse.
func TestCpDockerStopped(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "host")
	cpHostTree(t, host)
	s.mustDocker("create", "--name", "cs", "-v", "stvol:/vol", "busybox", "cat", "/f", "/vol/f")
	s.mustDocker("cp", filepath.Join(host, "f"), "cs:/f")
	s.mustDocker("cp", filepath.Join(host, "f"), "cs:/vol/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "stvol", "_data", "f")); got != "hello\n" {
		t.Errorf("into the volume of a created container: %q", got)
	}
	if out := s.mustDocker("start", "-a", "cs"); out != "hello\nhello\n" {
		t.Errorf("created container sees %q", out)
	}
	// Stopped now.
	s.mustDocker("cp", filepath.Join(host, "d"), "cs:/d2")
	out := filepath.Join(s.root, "out")
	s.mustDocker("cp", "cs:/d2", out)
	if got := readHostFile(t, filepath.Join(out, "g")); got != "gee\n" {
		t.Errorf("dir out of a stopped container into a new name: %q", got)
	}
	tarOut := s.mustDocker("cp", "cs:/vol/f", "-")
	if !strings.Contains(tarOut, "hello\n") {
		t.Errorf("tar of a stopped container's volume file: %q", tarOut)
	}

	ro := filepath.Join(s.root, "robind")
	os.MkdirAll(ro, 0o755)
	s.mustDocker("create", "--name", "ro", "--read-only", "-v", ro+":/robind:ro", "-v", "rwvol:/rw", "busybox", "true")
	_, errOut, code := s.docker("cp", filepath.Join(host, "f"), "ro:/tmp/")
	if code == 0 || !strings.Contains(errOut, "container rootfs is marked read-only") {
		t.Errorf("cp into a read-only rootfs: exit %d %q", code, errOut)
	}
	_, errOut, code = s.docker("cp", filepath.Join(host, "f"), "ro:/robind/")
	if code == 0 || !strings.Contains(errOut, "mounted volume is marked read-only") {
		t.Errorf("cp into a :ro bind: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(ro, "f")); err == nil {
		t.Errorf("cp wrote into the :ro bind")
	}
	s.mustDocker("cp", filepath.Join(host, "f"), "ro:/rw/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "rwvol", "_data", "f")); got != "hello\n" {
		t.Errorf("rw volume of a read-only container: %q", got)
	}
}

// Symlinks planted in the container (to /etc, to "/", to ../../..) never
// lead cp to the host's files, running or stopped, either way; a hostile
// tar put through the API stays in the target directory.
func TestCpHostileSymlinks(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	probe := fmt.Sprintf("berth-cp-probe-%d", rand.Int64())
	t.Cleanup(func() {
		os.Remove("/etc/" + probe)
		os.Remove("/" + probe)
		os.Remove("/etc/tar-" + probe)
	})
	src := filepath.Join(s.root, probe)
	os.WriteFile(src, []byte("probe\n"), 0o644)
	plant := "ln -s /etc /x && ln -s / /hostroot && ln -s ../../../../../.. /up && echo inside > /etc/marker"
	s.mustDocker("run", "-d", "--name", "run", "busybox", "sh", "-c", plant+" && sleep 1000")
	s.mustDocker("run", "--name", "stopped", "busybox", "sh", "-c", plant)
	for _, c := range []string{"run", "stopped"} {
		// Wait for the running one's links (the shell runs async).
		for range 100 {
			if _, _, code := s.docker("cp", c+":/etc/marker", "-"); code == 0 {
				break
			}
		}
		for _, dst := range []string{"/x/", "/hostroot/", "/up/", "/up/etc/", "/x/../../../etc/"} {
			if _, errOut, code := s.docker("cp", src, c+":"+dst); code != 0 {
				t.Errorf("%s: cp to %s: %s", c, dst, errOut)
			}
		}
		for _, p := range []string{"/etc/" + probe, "/" + probe} {
			if _, err := os.Stat(p); err == nil {
				t.Fatalf("%s: cp wrote %s on the host", c, p)
			}
		}
		if out := s.mustDocker("cp", c+":/x/marker", "-"); !strings.Contains(out, "inside\n") {
			t.Errorf("%s: read through /x: %q", c, out)
		}
		// Reading through the links gives the container's files.
		if _, errOut, code := s.docker("cp", c+":/hostroot/"+probe, "-"); code != 0 {
			t.Errorf("%s: the probe is not in the container's root: %s", c, errOut)
		}
		if _, _, code := s.docker("cp", c+":/up/"+filepath.Base(s.root), "-"); code == 0 {
			t.Errorf("%s: ../.. reached the host's temp dir", c)
		}
	}

	// A hostile tar: ".." is refused; an absolute symlink then an entry
	// through it lands below the target directory.
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		status  int
	}{
		{"dotdot", []tar.Header{{Name: "../../../" + probe, Typeflag: tar.TypeReg, Mode: 0o644}}, http.StatusBadRequest},
		{"symlink", []tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "l/etc/tar-" + probe, Typeflag: tar.TypeReg, Mode: 0o644}}, http.StatusOK},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range tc.entries {
			tw.WriteHeader(&h)
		}
		tw.Close()
		code, body := s.http("PUT", "/containers/run/archive?path=/tmp", "application/x-tar", buf.Bytes())
		if code != tc.status {
			t.Errorf("%s tar: %d %s", tc.name, code, body)
		}
	}
	// Device nodes: only where the container could make them itself.
	s.mustDocker("run", "-d", "--name", "nomknod", "--cap-drop", "MKNOD", "busybox", "sleep", "1000")
	var dev bytes.Buffer
	tw := tar.NewWriter(&dev)
	tw.WriteHeader(&tar.Header{Name: "null2", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})
	tw.Close()
	if code, body := s.http("PUT", "/containers/nomknod/archive?path=/tmp", "application/x-tar", dev.Bytes()); code != http.StatusBadRequest || !strings.Contains(body, "device node") {
		t.Errorf("device node into a container without CAP_MKNOD: %d %s", code, body)
	}
	if code, body := s.http("PUT", "/containers/run/archive?path=/tmp", "application/x-tar", dev.Bytes()); code != http.StatusOK {
		t.Errorf("device node into a container with CAP_MKNOD: %d %s", code, body)
	}
	if _, err := os.Stat("/etc/tar-" + probe); err == nil {
		t.Fatalf("hostile tar wrote /etc/tar-%s on the host", probe)
	}
	if out := s.mustDocker("exec", "run", "ls", "/tmp/etc/"); !strings.Contains(out, "tar-"+probe) {
		t.Errorf("the symlinked entry is not below the target: %q", out)
	}
	if _, errOut, code := s.docker("exec", "run", "ls", "/etc/tar-"+probe); code == 0 {
		t.Errorf("the symlinked entry left the target directory: %s", errOut)
	}
}

// ctl cp has docker's rules: file into a dir, onto a file, a dir into a
// new name and into a dir, "/." both ways, -L, -a, and "-" as a tar on
// stdin and stdout.
func TestCpCtl(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "host")
	cpHostTree(t, host)
	os.Symlink("d", filepath.Join(host, "ld"))
	s.mustRun("run", "-d", "--name", "cc", "-v", "ctlvol:/data", "busybox", "sleep", "1000")
	s.mustRun("cp", filepath.Join(host, "f"), "cc:/tmp/")
	s.mustRun("cp", filepath.Join(host, "f"), "cc:/tmp/renamed")
	s.mustRun("cp", filepath.Join(host, "d"), "cc:/tmp/newdir")
	s.mustRun("cp", filepath.Join(host, "d"), "cc:/tmp/newdir")
	s.mustRun("cp", filepath.Join(host, "d")+"/.", "cc:/data")
	s.mustRun("cp", "-L", filepath.Join(host, "ld"), "cc:/tmp/")
	s.mustRun("cp", filepath.Join(host, "ld"), "cc:/tmp/sl")
	want := map[string]string{
		"/tmp/f": "hello\n", "/tmp/renamed": "hello\n", "/tmp/newdir/g": "gee\n",
		"/tmp/newdir/d/g": "gee\n", "/data/g": "gee\n", "/tmp/ld/g": "gee\n",
	}
	for p, w := range want {
		if out, errOut, _ := s.docker("exec", "cc", "cat", p); out != w {
			t.Errorf("%s: %q %s", p, out, errOut)
		}
	}
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "ctlvol", "_data", "g")); got != "gee\n" {
		t.Errorf("volume: %q", got)
	}
	if got := s.mustDocker("exec", "cc", "readlink", "/tmp/sl"); got != "d\n" {
		t.Errorf("symlink copied without -L: %q", got)
	}
	if _, errOut, code := s.run("cp", filepath.Join(host, "d"), "cc:/tmp/f"); code == 0 || !strings.Contains(errOut, "cannot copy directory") {
		t.Errorf("dir onto a file: exit %d %s", code, errOut)
	}
	if _, errOut, code := s.run("cp", filepath.Join(host, "f"), "cc:/nope/"); code == 0 || !strings.Contains(errOut, "Could not find the file /nope") && !strings.Contains(errOut, "no such directory") {
		t.Errorf("file into a missing dir: exit %d %s", code, errOut)
	}

	out := filepath.Join(s.root, "out")
	os.MkdirAll(out, 0o755)
	s.mustRun("cp", "cc:/tmp/newdir", out)
	s.mustRun("cp", "cc:/tmp/newdir/.", filepath.Join(out, "flat"))
	s.mustRun("cp", "cc:/tmp/f", filepath.Join(out, "file"))
	for p, w := range map[string]string{"newdir/g": "gee\n", "newdir/d/g": "gee\n", "flat/g": "gee\n", "file": "hello\n"} {
		if got := readHostFile(t, filepath.Join(out, p)); got != w {
			t.Errorf("out %s: %q", p, got)
		}
	}
	if _, errOut, code := s.run("cp", "cc:/nope", out); code == 0 || !strings.Contains(errOut, "Could not find the file /nope in container cc") {
		t.Errorf("missing source: exit %d %s", code, errOut)
	}

	// "-": a tar out on stdout, the same tar in from stdin.
	tarOut := s.mustRun("cp", "cc:/tmp/newdir", "-")
	names := tarNames(t, []byte(tarOut))
	if strings.Join(names, ",") != "newdir/,newdir/d/,newdir/d/g,newdir/g" {
		t.Errorf("tar names: %v", names)
	}
	cmd := s.ctl("cp", "-", "cc:/data")
	cmd.Stdin = strings.NewReader(tarOut)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cp - : %v %s", err, b)
	}
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "ctlvol", "_data", "newdir", "d", "g")); got != "gee\n" {
		t.Errorf("stdin tar into the volume: %q", got)
	}
	cmd = s.ctl("cp", "-", "cc:/tmp/f")
	cmd.Stdin = strings.NewReader(tarOut)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "must be a directory") {
		t.Errorf("stdin tar onto a file: %v %s", err, b)
	}

	owned := filepath.Join(s.root, "owned")
	os.WriteFile(owned, []byte("o\n"), 0o600)
	os.Chown(owned, 1234, 2345)
	s.mustRun("cp", "-a", owned, "cc:/tmp/")
	if got := s.mustDocker("exec", "cc", "stat", "-c", "%u:%g", "/tmp/owned"); got != "1234:2345\n" {
		t.Errorf("-a owner: %q", got)
	}
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	return names
}

// docker-py's put_archive and get_archive.
func TestCpDockerPy(t *testing.T) {
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	s.runDockerPy(py, `
import io, sys, tarfile, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.create("busybox", ["true"], name="pycp")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    data = b"from python\n"
    ti = tarfile.TarInfo("dir/hello.txt"); ti.size = len(data); ti.mode = 0o640
    tf.addfile(ti, io.BytesIO(data))
assert ct.put_archive("/tmp", buf.getvalue())
bits, stat = ct.get_archive("/tmp/dir")
assert stat["name"] == "dir", stat
assert stat["mode"] & 0o20000000000, stat
raw = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
    names = tf.getnames()
    assert names == ["dir", "dir/hello.txt"], names
    m = tf.getmember("dir/hello.txt")
    assert m.mode == 0o640, oct(m.mode)
    assert tf.extractfile(m).read() == b"from python\n"
try:
    ct.get_archive("/nope")
    raise SystemExit("no error for a missing path")
except docker.errors.NotFound as e:
    assert "Could not find the file /nope" in str(e), e
try:
    ct.put_archive("/tmp/dir/hello.txt", buf.getvalue())
    raise SystemExit("no error for a file as target")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "extraction point is not a directory" in str(e), e
ct.remove()
print("ok")
`)
}
