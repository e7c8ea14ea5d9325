package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// docker-py, the Python SDK, drives engined: run detached, exec_run, logs,
// stop, remove, and run with output.
func TestDockerPy(t *testing.T) {
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	script := `
import sys, time, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.run("busybox", ["sh", "-c", "echo started; while true; do sleep 0.1; done"], detach=True, name="py1")
deadline = time.time() + 20
while b"started" not in ct.logs():
    assert time.time() < deadline, "no log"
    time.sleep(0.05)
r = ct.exec_run(["sh", "-c", "echo from-exec $X; exit 2"], environment={"X": "y"})
assert r.exit_code == 2 and r.output == b"from-exec y\n", r
ct.reload()
assert ct.status == "running", ct.status
ct.stop(timeout=1)
ct.reload()
assert ct.status == "exited", ct.status
ct.remove()
assert not c.containers.list(all=True), c.containers.list(all=True)
out = c.containers.run("busybox", ["echo", "hi"], remove=True)
assert out == b"hi\n", out
print("ok")
`
	s.runDockerPy(py, script)
}

// requireDockerPy returns python3, which must have docker-py.
func requireDockerPy(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	testprereq.Require(t, err == nil, "python3")
	testprereq.Require(t, exec.Command(py, "-c", "import docker").Run() == nil, "needs docker-py (python3 -c 'import docker')")
	return py
}

// runDockerPy runs a docker-py script against the stack's engined (its
// first argument); the script prints "ok" when every assertion held.
func (s *stack) runDockerPy(py, script string) {
	s.t.Helper()
	cmd := exec.Command(py, "-c", script, "unix://"+s.engSock)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.root)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		s.t.Fatalf("docker-py: %v\n%s", err, out)
	}
}
