package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// The container is PID 1 of its own pid namespace, with its own hostname,
// and sees only its own processes.
func TestRunIsolated(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	out := s.mustRun("run", "--rm", "busybox", "sh", "-c", `echo "pid=$$"; echo "host=$(hostname)"; ps -o pid,comm; true`)
	if !strings.Contains(out, "pid=1\n") {
		t.Errorf("container shell is not PID 1:\n%s", out)
	}
	host := regexp.MustCompile(`host=(\S+)`).FindStringSubmatch(out)
	hostHost, _ := os.Hostname()
	if host == nil || host[1] == hostHost {
		t.Errorf("container has no hostname of its own (host is %q):\n%s", hostHost, out)
	}
	// ps lists a header, the shell (PID 1) and ps itself: nothing of the host.
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] != "PID" {
			if _, err := strconv.Atoi(f[0]); err == nil {
				procs = append(procs, l)
			}
		}
	}
	if len(procs) != 2 {
		t.Errorf("container sees %d processes, want its own 2:\n%s", len(procs), out)
	}
}

// stdout and stderr reach ctl on their own streams; exit codes propagate.
func TestRunStreamsAndExitCode(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	out, errOut, code := s.run("run", "--rm", "busybox", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	if code != 3 {
		t.Errorf("exit code %d, want 3 (stderr %q)", code, errOut)
	}
	if out != "to-stdout\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "to-stderr") || strings.Contains(errOut, "to-stdout") {
		t.Errorf("stderr %q", errOut)
	}
	// -e sets the environment; --name names the container; logs reads it back.
	s.mustRun("run", "--name", "envy", "-e", "GREETING=hi there", "busybox", "sh", "-c", `echo "$GREETING"`)
	if logs := s.mustRun("logs", "envy"); logs != "hi there\n" {
		t.Errorf("logs %q", logs)
	}
	ps := s.mustRun("ps", "-a")
	if !strings.Contains(ps, "envy") || !strings.Contains(ps, "Exited (0)") {
		t.Errorf("ps -a does not show the exited container:\n%s", ps)
	}
	s.mustRun("rm", "envy")
	if ps := s.mustRun("ps", "-a"); strings.Contains(ps, "envy") {
		t.Errorf("removed container still listed:\n%s", ps)
	}
}

// The real docker CLI drives engined: docker load and docker run --rm.
func TestDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	s := newStack(t)
	tarPath := filepath.Join(s.root, "busybox.tar")
	if err := image.WriteDockerArchive(tarPath, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	dockerRun := func(args ...string) (string, string, error) {
		cmd := exec.Command(docker, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	out, errOut, err := dockerRun("load", "-i", tarPath)
	if err != nil || !strings.Contains(out, "Loaded image: busybox:latest") {
		t.Fatalf("docker load: %v\n%s\n%s", err, out, errOut)
	}
	out, errOut, err = dockerRun("run", "--rm", "busybox", "echo", "hi")
	if err != nil || out != "hi\n" {
		t.Fatalf("docker run: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	_, _, err = dockerRun("run", "--rm", "busybox", "sh", "-c", "exit 7")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("docker run exit 7: %v", err)
	}
	if out, _, _ := dockerRun("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left containers: %q", out)
	}
}

// Daemons killed with SIGKILL leave a running container alive; after they
// restart it is listed running and rm -f removes it with its mount and cgroup.
func TestDaemonsKilledContainerSurvives(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	id := strings.TrimSpace(s.mustRun("run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	pid := s.containerPid(id)
	if pid <= 0 {
		t.Fatalf("no pid for %s", id)
	}

	s.kill9(s.engine)
	s.kill9(s.supervisor)
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container process %d died with the daemons: %v", pid, err)
	}
	s.startSupervisor()
	s.startEngine()

	ps := s.mustRun("ps")
	if !strings.Contains(ps, "sleeper") || !strings.Contains(ps, "Up") {
		t.Fatalf("after restart, ps does not list the container running:\n%s", ps)
	}
	if got := s.containerPid(id); got != pid {
		t.Errorf("pid after restart %d, want %d", got, pid)
	}
	cgroups := cgroupDirs(id)
	if len(cgroups) == 0 {
		t.Errorf("no cgroup found for %s", id)
	}
	mountsBefore := s.mountsUnder()
	if len(mountsBefore) == 0 {
		t.Errorf("no rootfs mount found for the running container")
	}

	s.mustRun("rm", "-f", "sleeper")
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("container process %d still alive after rm -f", pid)
	}
	if left := s.mountsUnder(); len(left) > 0 {
		t.Errorf("mounts left after rm -f: %v", left)
	}
	if left := cgroupDirs(id); len(left) > 0 {
		t.Errorf("cgroups left after rm -f: %v", left)
	}
	if ps := s.mustRun("ps", "-a"); strings.Contains(ps, "sleeper") {
		t.Errorf("container still listed:\n%s", ps)
	}
}

// containerPid asks engined (inspect) for the container's pid.
func (s *stack) containerPid(id string) int {
	s.t.Helper()
	code, body := s.http("GET", "/containers/"+id+"/json", "", nil)
	if code != 200 {
		s.t.Fatalf("inspect %s: %d %s", id, code, body)
	}
	m := regexp.MustCompile(`"Pid":(\d+)`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// cgroupDirs finds cgroup directories named for the container in any
// hierarchy.
func cgroupDirs(id string) []string {
	var found []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		_ = filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if d.Name() == id {
				found = append(found, p)
				return filepath.SkipDir
			}
			return nil
		})
	}
	return found
}

// Bad requests get clear errors and change nothing.
func TestBadRequests(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()

	_, errOut, code := s.run("run", "--rm", "--pull", "never", "nosuchimage")
	if code == 0 || !strings.Contains(errOut, "No such image") {
		t.Errorf("unknown image: exit %d stderr %q", code, errOut)
	}
	_, errOut, code = s.run("rm", "nosuchcontainer")
	if code == 0 || !strings.Contains(errOut, "No such container") {
		t.Errorf("unknown container: exit %d stderr %q", code, errOut)
	}
	_, errOut, code = s.run("logs", "nosuchcontainer")
	if code == 0 || !strings.Contains(errOut, "No such container") {
		t.Errorf("logs of unknown container: exit %d stderr %q", code, errOut)
	}
	status, body := s.http("POST", "/containers/create", "application/json", []byte(`{"Image": "busybox", "Cmd": [`))
	if status != 400 || !strings.Contains(body, `"message"`) {
		t.Errorf("bad JSON: %d %s", status, body)
	}
	status, body = s.http("POST", "/images/load", "application/x-tar", []byte("this is not a tar archive"))
	if status < 400 || !strings.Contains(body, "message") {
		t.Errorf("bad archive: %d %s", status, body)
	}
	status, body = s.http("GET", "/containers/nosuch/json", "", nil)
	if status != 404 || !strings.Contains(body, "No such container") {
		t.Errorf("inspect unknown: %d %s", status, body)
	}
	// Nothing was created by the failures.
	if ps := strings.TrimSpace(s.mustRun("ps", "-aq")); ps != "" {
		t.Errorf("failed requests left containers: %q", ps)
	}
	images := s.mustRun("images")
	if strings.Count(images, "\n") != 2 {
		t.Errorf("images after bad requests:\n%s", images)
	}
}
