package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// Drop-in proof: our bin/runtime stands in for runc under podman (through
// conmon) and under containerd (through its runc shim), with the same busybox
// image the other tests use. A wrapper script in front of the runtime logs
// every invocation, which shows the callers really ran ours.

type dropin struct {
	t       *testing.T
	dir     string
	runtime string // the logging wrapper around bin/runtime
	log     string
	archive string
}

func newDropin(t *testing.T, tools ...string) *dropin {
	t.Helper()
	testprereq.Root(t)
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		testprereq.Require(t, err == nil, "%s", tool+" (scripts/deps.sh installs it)")
	}
	_, err := os.Stat(image.BusyboxPath)
	testprereq.Require(t, err == nil, "host busybox (busybox-static)")
	bin, err := filepath.Abs(filepath.Join(binDir(t), "runtime"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(bin)
	testprereq.Require(t, err == nil, "bin/runtime (make build)")
	dir, err := os.MkdirTemp("", "bx")
	if err != nil {
		t.Fatal(err)
	}
	d := &dropin{t: t, dir: dir, runtime: filepath.Join(dir, "runtime"), log: filepath.Join(dir, "runtime.log"),
		archive: filepath.Join(dir, "busybox.tar")}
	t.Cleanup(d.cleanup)
	wrapper := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", d.log, bin)
	if err := os.WriteFile(d.runtime, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteDockerArchive(d.archive, "docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	return d
}

// cleanup removes what the callers left below dir: mounts (innermost
// first) and processes naming dir (containerd's shims), then dir.
func (d *dropin) cleanup() {
	s := &stack{t: d.t, root: d.dir}
	if d.t.Failed() {
		b, _ := os.ReadFile(d.log)
		d.t.Logf("runtime invocations:\n%s", b)
	}
	for _, pid := range s.processesUnder() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	m := s.mountsUnder()
	for i := len(m) - 1; i >= 0; i-- {
		_ = syscall.Unmount(m[i], syscall.MNT_DETACH)
	}
	_ = os.RemoveAll(d.dir)
}

// cmd runs name with args and returns its combined output and exit code.
func (d *dropin) cmd(name string, args ...string) (string, int) {
	d.t.Helper()
	c := exec.Command(name, args...)
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		d.t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

func (d *dropin) must(name string, args ...string) string {
	d.t.Helper()
	out, code := d.cmd(name, args...)
	if code != 0 {
		d.t.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), code, out)
	}
	return out
}

// invoked checks that the runtime was called with each subcommand.
func (d *dropin) invoked(subcommands ...string) {
	d.t.Helper()
	b, err := os.ReadFile(d.log)
	if err != nil {
		d.t.Fatalf("the runtime was never run: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, f := range strings.Fields(line) {
			seen[f] = true
		}
	}
	for _, sc := range subcommands {
		if !seen[sc] {
			d.t.Errorf("the runtime was never run with %q", sc)
		}
	}
}

func TestDropinPodman(t *testing.T) {
	d := newDropin(t, "podman", "conmon")
	base := []string{
		"--root", filepath.Join(d.dir, "root"), "--runroot", filepath.Join(d.dir, "run"),
		"--tmpdir", filepath.Join(d.dir, "tmp"), "--volumepath", filepath.Join(d.dir, "volumes"),
		"--network-config-dir", filepath.Join(d.dir, "net"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "vfs",
		"--runtime", d.runtime,
	}
	podman := func(args ...string) []string { return append(append([]string{}, base...), args...) }
	t.Cleanup(func() { _, _ = d.cmd("podman", podman("rm", "-a", "-f", "-t", "0")...) })
	d.must("podman", podman("load", "-i", d.archive)...)
	// This host's podman cannot raise its own limits; network none keeps the
	// test off the host's network.
	run := []string{"run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}

	if out := d.must("podman", podman(append(run, "busybox", "echo", "hi")...)...); out != "hi\n" {
		t.Fatalf("podman run echo hi: %q", out)
	}
	if out, code := d.cmd("podman", podman(append(run, "busybox", "sh", "-c", "exit 3")...)...); code != 3 {
		t.Fatalf("podman run exit 3: exit code %d: %s", code, out)
	}
	// podman's default seccomp profile, compiled by our runtime, is in force.
	if out := d.must("podman", podman(append(run, "busybox", "grep", "Seccomp:", "/proc/self/status")...)...); !strings.Contains(out, "2") {
		t.Fatalf("no seccomp filter in the podman container: %q", out)
	}
	d.must("podman", podman("run", "-d", "--name", "s1", "--network", "none", "--ulimit", "nofile=1024:1024",
		"--ulimit", "nproc=4096:4096", "busybox", "sleep", "100")...)
	if out, code := d.cmd("podman", podman("exec", "s1", "sh", "-c", "echo in; exit 5")...); code != 5 || out != "in\n" {
		t.Fatalf("podman exec: exit code %d, output %q", code, out)
	}
	d.must("podman", podman("rm", "-f", "-t", "0", "s1")...)
	d.invoked("create", "start", "exec", "delete")
}

func TestDropinContainerd(t *testing.T) {
	d := newDropin(t, "containerd", "ctr", "containerd-shim-runc-v2")
	sock := filepath.Join(d.dir, "c.sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state"), sock, sock+".ttrpc")
	cfgPath := filepath.Join(d.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(d.dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	daemon := exec.Command("containerd", "--config", cfgPath)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = daemon.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", b)
		}
	})
	ctr := func(args ...string) []string { return append([]string{"-a", sock}, args...) }
	for i := 0; ; i++ {
		if _, code := d.cmd("ctr", ctr("version")...); code == 0 {
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd exited:\n%s", b)
		case <-time.After(100 * time.Millisecond):
		}
		if i > 300 {
			t.Fatal("containerd did not come up in 30 s")
		}
	}
	d.must("ctr", ctr("images", "import", d.archive)...)
	ref := "docker.io/library/busybox:latest"
	if out := d.must("ctr", ctr("run", "--rm", "--runc-binary", d.runtime, ref, "c1", "echo", "hi")...); out != "hi\n" {
		t.Fatalf("ctr run echo hi: %q", out)
	}
	if out, code := d.cmd("ctr", ctr("run", "--rm", "--runc-binary", d.runtime, ref, "c2", "sh", "-c", "exit 4")...); code != 4 {
		t.Fatalf("ctr run exit 4: exit code %d: %s", code, out)
	}
	if out := d.must("ctr", ctr("run", "--rm", "--seccomp", "--runc-binary", d.runtime, ref, "c3", "grep", "Seccomp:", "/proc/self/status")...); !strings.Contains(out, "2") {
		t.Fatalf("no seccomp filter with ctr run --seccomp: %q", out)
	}
	d.must("ctr", ctr("run", "-d", "--runc-binary", d.runtime, ref, "c4", "sleep", "100")...)
	if out, code := d.cmd("ctr", ctr("task", "exec", "--exec-id", "e1", "c4", "sh", "-c", "echo in; exit 6")...); code != 6 || out != "in\n" {
		t.Fatalf("ctr task exec: exit code %d, output %q", code, out)
	}
	d.must("ctr", ctr("task", "kill", "-s", "KILL", "c4")...)
	for i := 0; ; i++ {
		if _, code := d.cmd("ctr", ctr("task", "rm", "c4")...); code == 0 {
			break
		}
		if i > 100 {
			t.Fatal("task c4 did not stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.must("ctr", ctr("containers", "rm", "c4")...)
	d.invoked("create", "start", "exec", "delete")
}
