package e2e

import (
	"strings"
	"testing"
)

// TestDockerJoinPeerAfterRestart: a container that joins another's
// network, pid and ipc namespaces starts again after that other container
// restarted (a new init, new namespaces), and then shares the new ones,
// as under dockerd; a stopped peer makes its start fail naming the mode.
func TestDockerJoinPeerAfterRestart(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sleep", "300")
	s.mustDocker("create", "--name", "joiner", "--network", "container:donor", "--pid", "container:donor", "--ipc", "container:donor",
		"busybox", "sh", "-c", "for p in 1 self; do for n in net ipc; do readlink /proc/$p/ns/$n; done; done; ls /dev/shm")
	check := func(marker string) {
		t.Helper()
		s.mustDocker("exec", "donor", "touch", "/dev/shm/"+marker)
		s.mustDocker("start", "-a", "joiner")
		out := strings.Fields(s.mustDocker("logs", "joiner"))
		// The last run's lines: donor's net and ipc, own net and ipc, the marker.
		if len(out) < 5 {
			t.Fatalf("joiner logs %q", out)
		}
		out = out[len(out)-5:]
		if out[0] != out[2] || out[1] != out[3] || out[4] != marker {
			t.Fatalf("joiner does not share the donor's namespaces: %q", out)
		}
	}
	check("first")
	s.mustDocker("restart", "-t", "0", "donor")
	check("second")

	s.mustDocker("stop", "-t", "0", "donor")
	_, errOut, code := s.docker("start", "joiner")
	if code == 0 || !strings.Contains(errOut, "non running container") {
		t.Fatalf("start with a stopped peer: exit %d, %q", code, errOut)
	}
	s.mustDocker("rm", "joiner", "donor")
}
