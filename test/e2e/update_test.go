package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// docker update changes a running container's cgroup limits (read from
// inside the container, where its own cgroup is mounted), inspect shows the
// new values, a stopped container gets them at its next start, and bad
// values get docker's errors and change nothing.
func TestDockerUpdate(t *testing.T) {
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	s := newStack(t)
	s.loadBusybox()
	env := append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	dk := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(docker, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		o, e, code := dk(args...)
		if code != 0 {
			t.Fatalf("docker %v: exit %d\n%s%s", args, code, o, e)
		}
		return strings.TrimSpace(o)
	}
	cg := func(file string) string {
		t.Helper()
		return must("exec", "upd", "cat", "/sys/fs/cgroup/"+file)
	}
	// inspect shows a lifted pids limit as 0, as dockerd; the cgroup "max".
	state := func(wantMem, wantSwap, wantPids, wantPolicy string) {
		t.Helper()
		for file, want := range map[string]string{"memory/memory.limit_in_bytes": wantMem, "memory/memory.memsw.limit_in_bytes": wantSwap, "pids/pids.max": wantPids} {
			if got := cg(file); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
		}
		got := must("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}", "upd")
		if wantPids == "max" {
			wantPids = "0"
		}
		if want := wantMem + " " + wantSwap + " " + wantPids + " " + wantPolicy; got != want {
			t.Errorf("inspect: %q, want %q", got, want)
		}
	}

	start := time.Now().Add(-time.Second).Unix()
	must("run", "-d", "--name", "upd", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "100", "busybox", "sleep", "1000")
	state("67108864", "134217728", "100", "no")

	if out := must("update", "--memory", "32m", "--pids-limit", "20", "--restart", "always", "upd"); out != "upd" {
		t.Errorf("docker update printed %q, want the container's name", out)
	}
	state("33554432", "134217728", "20", "always")
	if ev := must("events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "event=update", "--format", "{{.Action}} {{.Actor.Attributes.name}}"); ev != "update upd" {
		t.Errorf("update events: %q", ev)
	}

	// Bad values: docker's errors, nothing changed.
	for _, bad := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--memory", "4m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--memory", "64m", "--memory-swap", "32m"}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{[]string{"--memory", "256m"}, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{[]string{"--cpus", "1000"}, "of CPUs is from 0.01 to"},
		{[]string{"--blkio-weight", "5"}, "Range of blkio weight is from 10 to 1000"},
		{[]string{"--cpuset-cpus", "4095"}, "Requested CPUs are not available"},
		{[]string{"--pids-limit", "5", "--restart", "on-failure:-1"}, "maximum retry count cannot be negative"},
	} {
		_, errOut, code := dk(append(append([]string{"update"}, bad.args...), "upd")...)
		if code == 0 || !strings.Contains(errOut, bad.msg) {
			t.Errorf("docker update %v: exit %d, stderr %q, want %q", bad.args, code, errOut, bad.msg)
		}
	}
	state("33554432", "134217728", "20", "always")

	// The updated policy restarts the container when its process dies, and
	// the new task has the updated limits (the stored spec carries them).
	pid, _ := strconv.Atoi(must("inspect", "-f", "{{.State.Pid}}", "upd"))
	if pid <= 0 {
		t.Fatalf("container pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart by the updated policy", func() bool {
		return must("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", "upd") == "1 true"
	})
	state("33554432", "134217728", "20", "always")

	// A stopped container: only the stored change, used by the next start.
	must("stop", "-t", "0", "upd")
	must("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "-1", "upd")
	must("start", "upd")
	state("50331648", "100663296", "max", "always")

	// --rm containers keep no restart policy.
	must("run", "-d", "--rm", "--name", "rmd", "busybox", "sleep", "1000")
	if _, errOut, code := dk("update", "--restart", "always", "rmd"); code == 0 ||
		!strings.Contains(errOut, "Restart policy cannot be updated because AutoRemove is enabled for the container") {
		t.Errorf("update --restart of a --rm container: exit %d %q", code, errOut)
	}
	must("rm", "-f", "upd", "rmd")
}
