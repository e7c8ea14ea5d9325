package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/failpoint"
)

// A create killed once it made the container's cgroups (the runtime
// process, or the shim running it in its own): the state it saved before
// them says creating, so `state` knows the container and `delete --force`
// removes its cgroups and its state, where it found only a directory and
// left the cgroups behind.
func TestRuntimeCreateKilledIsDeletable(t *testing.T) {
	id := "killed-" + strconv.Itoa(os.Getpid())
	e := newRtEnv(t, func(s *specs.Spec) { s.Linux.CgroupsPath = "berth-test/" + id }, "true")
	e.cleanup(t, id)
	c := exec.Command(e.bin, "--root", e.root, "create", "--bundle", e.bundle, id)
	c.Env = append(os.Environ(), failpoint.Env+"=runtime-create-cgroups-made")
	err := c.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("create at the failpoint: %v, want killed", err)
	}
	dirs := cgroupDirsNamed(t, id)
	if len(dirs) == 0 {
		t.Fatal("no cgroup of the container before the failpoint")
	}
	if st := e.state(t, id); st.Status != "creating" && st.Status != "stopped" {
		t.Errorf("state of the killed create: %q, want creating or stopped", st.Status)
	}
	e.must(t, "delete", "--force", id)
	if left := cgroupDirsNamed(t, id); len(left) != 0 {
		t.Errorf("cgroups left after delete: %v", left)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir after delete: %v", err)
	}
}

// cgroupDirsNamed finds the cgroup directories named berth-test/id in
// every hierarchy, however deep the runtime's own cgroup is.
func cgroupDirsNamed(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	pattern := "/sys/fs/cgroup/*"
	for depth := 0; depth < 6; depth++ {
		m, err := filepath.Glob(filepath.Join(pattern, "berth-test", id))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
		pattern += "/*"
	}
	return out
}
