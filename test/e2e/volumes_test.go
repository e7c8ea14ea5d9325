package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

func (s *stack) mustDocker(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.docker(args...)
	if code != 0 {
		s.t.Fatalf("docker %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	return out
}

// A named volume written by one container is read by a second, survives
// rm of both and kill -9 of both daemons, and volume rm frees it.
func TestVolumesNamedSurvive(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "--name", "w1", "-v", "data:/data", "busybox", "sh", "-c", "echo persisted > /data/f")
	if out := s.mustDocker("run", "--name", "r1", "-v", "data:/data", "busybox", "cat", "/data/f"); out != "persisted\n" {
		t.Fatalf("second container read %q", out)
	}
	s.mustDocker("rm", "w1", "r1")
	s.kill9(s.engine)
	s.kill9(s.supervisor)
	s.startSupervisor()
	s.startEngine()
	if out := s.mustDocker("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f"); out != "persisted\n" {
		t.Fatalf("after kill -9 of both daemons: %q", out)
	}
	if out := s.mustDocker("volume", "ls", "-q"); strings.TrimSpace(out) != "data" {
		t.Errorf("volume ls: %q", out)
	}
	dir := filepath.Join(s.root, "eng", "volumes", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	// In use: 409 naming the container, nothing removed.
	s.mustDocker("create", "--name", "user1", "-v", "data:/data", "busybox", "true")
	if _, errOut, code := s.docker("volume", "rm", "data"); code == 0 || !strings.Contains(errOut, "volume is in use") {
		t.Errorf("rm of a volume in use: exit %d %s", code, errOut)
	}
	s.mustDocker("rm", "user1")
	s.mustDocker("volume", "rm", "data")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("volume rm left %s: %v", dir, err)
	}
}

// Image content is copied into a new named volume (owners and modes kept);
// an anonymous volume goes with run --rm and rm -v; :ro binds refuse
// writes; tmpfs has the size and mode asked for.
func TestVolumesCopyUpAnonymousBindsTmpfs(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	out := s.mustDocker("run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "cat /etc/passwd | head -1")
	if !strings.HasPrefix(out, "root:") {
		t.Errorf("copy-up: /etc/passwd in the new volume reads %q", out)
	}
	if _, err := os.Stat(filepath.Join(s.root, "eng", "volumes", "etcvol", "_data", "passwd")); err != nil {
		t.Errorf("copied file not in the volume: %v", err)
	}
	// nocopy leaves the volume without the image's files (only the
	// mount points of /etc/hosts and the like, as under dockerd).
	s.mustDocker("run", "--rm", "-v", "empty:/etc:nocopy", "busybox", "true")
	if _, err := os.Stat(filepath.Join(s.root, "eng", "volumes", "empty", "_data", "passwd")); !os.IsNotExist(err) {
		t.Errorf("nocopy volume got the image's files: %v", err)
	}

	before := strings.Fields(s.mustDocker("volume", "ls", "-q"))
	s.mustDocker("run", "--rm", "-v", "/anon", "busybox", "sh", "-c", "echo x > /anon/f")
	if after := strings.Fields(s.mustDocker("volume", "ls", "-q")); len(after) != len(before) {
		t.Errorf("run --rm kept its anonymous volume: %v -> %v", before, after)
	}
	s.mustDocker("run", "--name", "keep", "-v", "/anon", "busybox", "true")
	if after := strings.Fields(s.mustDocker("volume", "ls", "-q")); len(after) != len(before)+1 {
		t.Errorf("anonymous volume of a kept container: %v", after)
	}
	s.mustDocker("rm", "-v", "keep")
	if after := strings.Fields(s.mustDocker("volume", "ls", "-q")); len(after) != len(before) {
		t.Errorf("rm -v kept the anonymous volume: %v", after)
	}

	host := filepath.Join(s.root, "hostdir")
	if out := s.mustDocker("run", "--rm", "-v", host+":/h", "busybox", "sh", "-c", "echo hi > /h/f && echo ok"); out != "ok\n" {
		t.Errorf("rw bind: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "f")); string(b) != "hi\n" {
		t.Errorf("bind write not on the host: %q", b)
	}
	if out := s.mustDocker("run", "--rm", "-v", host+":/h:ro", "busybox", "sh", "-c", "echo x > /h/g 2>/dev/null || echo refused"); out != "refused\n" {
		t.Errorf(":ro bind: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "--read-only", "-v", host+":/h", "--tmpfs", "/run:size=2m,mode=1770", "busybox", "sh", "-c", "df -k /run | tail -1 | awk '{print $2}'; stat -c %a /run; touch /h/ok /run/ok && echo writable"); out != "2048\n1770\nwritable\n" {
		t.Errorf("--read-only with a bind and a tmpfs: %q", out)
	}
	out = s.mustDocker("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=3145728,tmpfs-mode=1777", "busybox", "sh", "-c", "df -k /t | tail -1 | awk '{print $2}'; stat -c %a /t")
	if out != "3072\n1777\n" {
		t.Errorf("--mount tmpfs: %q", out)
	}
	// inspect's Mounts as dockerd shows them.
	s.mustDocker("create", "--name", "insp", "-v", "named:/n:ro", "-v", host+":/b", "busybox", "true")
	got := s.mustDocker("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}", "insp")
	if !strings.Contains(got, "volume named /n false;") || !strings.Contains(got, "bind  /b true;") {
		t.Errorf("inspect Mounts: %q", got)
	}
	s.mustDocker("rm", "insp")
}

// A hostile image whose /data is a symlink to /etc gets the bind on its
// own /etc, never on the host's.
func TestVolumesHostileSymlinkTarget(t *testing.T) {
	s := newStack(t)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: "data", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777})
	tw.WriteHeader(&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../etc", Mode: 0o777})
	tw.Close()
	s.loadBusyboxWith(layer.Bytes(), "hostile")
	host := filepath.Join(s.root, "h")
	os.MkdirAll(host, 0o755)
	marker := "berth-pwned-" + filepath.Base(s.root)
	for _, target := range []string{"/data", "/up"} {
		s.mustDocker("run", "--rm", "-v", host+":"+target, "hostile", "sh", "-c", "echo x > "+target+"/"+marker)
		if _, err := os.Stat(filepath.Join("/etc", marker)); err == nil {
			os.Remove(filepath.Join("/etc", marker))
			t.Fatalf("bind through the symlink %s wrote into the host's /etc", target)
		}
		if _, err := os.Stat(filepath.Join(host, marker)); err != nil {
			t.Errorf("%s: the write did not land in the bind source: %v", target, err)
		}
		os.Remove(filepath.Join(host, marker))
	}
}

// Bad input: docker's errors, nothing made.
func TestVolumesBadInput(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "-v", "/tmp:rel", "busybox", "true"}, "must be absolute"},
		{[]string{"run", "--rm", "--mount", "type=bind,src=/nonexistent-berth,dst=/x", "busybox", "true"}, "bind source path does not exist"},
		{[]string{"run", "--rm", "--mount", "type=bind,bogus=1,dst=/x", "busybox", "true"}, "unexpected key"},
		{[]string{"run", "--rm", "--volume-driver", "nfsplug", "-v", "v1:/x", "busybox", "true"}, "error looking up volume plugin nfsplug"},
		{[]string{"volume", "create", "-d", "nfsplug", "v2"}, "plugin"},
		{[]string{"volume", "rm", "nosuchvolume"}, "no such volume"},
		{[]string{"run", "--rm", "-v", "/a:/x", "-v", "/b:/x", "busybox", "true"}, "Duplicate mount point"},
		{[]string{"run", "--rm", "--volumes-from", "nosuch", "busybox", "true"}, "No such container: nosuch"},
		{[]string{"run", "--rm", "-v", "/tmp:/x:ro,rw", "busybox", "true"}, "invalid mode: ro,rw"},
		{[]string{"run", "--rm", "-v", "/tmp:/x:rslave,rshared", "busybox", "true"}, "invalid mode: rslave,rshared"},
		{[]string{"volume", "inspect", "nosuch"}, "Error response from daemon: get nosuch: no such volume\n"},
		{[]string{"volume", "create", "--opt", "bogus=1", "v3"}, "Error response from daemon: invalid option: \"bogus\"\n"},
	}
	for _, c := range cases {
		_, errOut, code := s.docker(c.args...)
		// dockerd's words, without a class suffix, and never a pull.
		if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, ": invalid argument") || strings.Contains(errOut, "Unable to find image") {
			t.Errorf("%v: exit %d %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if out := strings.TrimSpace(s.mustDocker("volume", "ls", "-q")); out != "" {
		t.Errorf("bad requests left volumes: %q", out)
	}
	if out := strings.TrimSpace(s.mustDocker("ps", "-aq")); out != "" {
		t.Errorf("bad requests left containers: %q", out)
	}
}

// docker-py's volumes API and a run with a volume.
func TestVolumesDockerPy(t *testing.T) {
	py, err := exec.LookPath("python3")
	testprereq.Require(t, err == nil, "python3")
	testprereq.Require(t, exec.Command(py, "-c", "import docker").Run() == nil, "needs docker-py")
	s := newStack(t)
	s.loadBusybox()
	script := `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
v = c.volumes.create(name="pyvol", labels={"team": "a"})
assert v.name == "pyvol" and v.attrs["Labels"] == {"team": "a"}, v.attrs
out = c.containers.run("busybox", ["sh", "-c", "echo hi > /v/f; cat /v/f"], volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
assert out == b"hi\n", out
assert [x.name for x in c.volumes.list(filters={"label": "team=a"})] == ["pyvol"]
assert c.volumes.list(filters={"dangling": True})[0].name == "pyvol"
v.remove()
assert c.volumes.list() == []
r = c.volumes.prune()
assert r["VolumesDeleted"] == [] or r["VolumesDeleted"] is None, r
print("ok")
`
	cmd := exec.Command(py, "-c", script, "unix://"+s.engSock)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.root)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
}

// ctl's volume commands and -v, as the docker CLI's.
func TestVolumesCtl(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	if out := s.mustRun("volume", "create", "--label", "k=v", "cv"); out != "cv\n" {
		t.Errorf("volume create: %q", out)
	}
	s.mustRun("run", "--rm", "-v", "cv:/d", "busybox", "sh", "-c", "echo 1 > /d/f")
	if out := s.mustRun("run", "--rm", "--mount", "type=volume,src=cv,dst=/d,readonly", "busybox", "cat", "/d/f"); out != "1\n" {
		t.Errorf("read back: %q", out)
	}
	if out := s.mustRun("volume", "ls", "--filter", "label=k=v", "--format", "{{.Name}} {{.Driver}}"); out != "cv local\n" {
		t.Errorf("volume ls: %q", out)
	}
	if out := s.mustRun("volume", "inspect", "-f", "{{.Labels.k}}", "cv"); out != "v\n" {
		t.Errorf("volume inspect: %q", out)
	}
	if out := s.mustRun("volume", "prune", "-a", "-f"); !strings.Contains(out, "Deleted Volumes:\ncv\n") {
		t.Errorf("volume prune -a: %q", out)
	}
	if _, errOut, code := s.run("volume", "rm", "cv"); code == 0 || !strings.Contains(errOut, "no such volume") {
		t.Errorf("rm of a pruned volume: %d %q", code, errOut)
	}
}
