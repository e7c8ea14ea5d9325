package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

// shimRuntime is the OCI runtime the shim tests drive.
func shimRuntime(t *testing.T) string {
	t.Helper()
	rt := os.Getenv("BERTH_TEST_RUNTIME")
	if rt == "" {
		rt = "/usr/sbin/runc"
	}
	_, err := os.Stat(rt)
	testprereq.Require(t, err == nil, "%s", "runtime binary "+rt)
	return rt
}

// shimBinary returns $BERTH_TEST_SHIM, or builds cmd/shim into dir
// (the go build cache makes this cheap after the first time).
func shimBinary(t *testing.T, dir string) string {
	t.Helper()
	if p := os.Getenv("BERTH_TEST_SHIM"); p != "" {
		return p
	}
	path := filepath.Join(dir, "shim")
	out, err := exec.Command("go", "build", "-o", path, "github.com/berthd/berth/cmd/shim").CombinedOutput()
	if err != nil {
		t.Fatalf("build shim: %v\n%s", err, out)
	}
	return path
}

// shimBundle makes an OCI bundle in dir whose rootfs is the host's busybox
// and whose process runs args.
func shimBundle(t *testing.T, runtime, dir, id string, args ...string) string {
	t.Helper()
	return shimBundleTerminal(t, runtime, dir, id, false, args...)
}

// shimBundleTerminal is shimBundle with process.terminal set as given.
func shimBundleTerminal(t *testing.T, runtime, dir, id string, terminal bool, args ...string) string {
	t.Helper()
	return shimBundleSpec(t, runtime, dir, id, func(s *specs.Spec) { s.Process.Terminal = terminal }, args...)
}

// shimBundleSpec is shimBundle with a last edit of the spec by mod.
func shimBundleSpec(t *testing.T, runtime, dir, id string, mod func(*specs.Spec), args ...string) string {
	t.Helper()
	testprereq.Root(t)
	busybox, err := exec.LookPath("busybox")
	testprereq.Require(t, err == nil, "busybox")
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "echo", "sleep", "cat", "ls", "true", "yes", "head", "tr", "stty"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(runtime, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("%s spec: %v\n%s", runtime, err, out)
	}
	var spec specs.Spec
	cfgPath := filepath.Join(bundle, "config.json")
	b, err = os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Args = args
	spec.Process.Terminal = false
	spec.Process.Env = []string{"PATH=/bin"}
	spec.Linux.CgroupsPath = "berth-test/" + id
	if mod != nil {
		mod(&spec)
	}
	if b, err = json.MarshalIndent(&spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// shimCleanup removes the container with the runtime (whatever state it
// is in), the berth-test cgroup parents, and kills the shim pid if alive.
func shimCleanup(t *testing.T, runtime, root, id string, shimPid *int) {
	t.Cleanup(func() {
		_ = exec.Command(runtime, "--root", root, "delete", "--force", id).Run()
		if *shimPid > 0 {
			_ = syscall.Kill(*shimPid, syscall.SIGKILL)
		}
		shimRemoveTestCgroups()
	})
}

// shimRemoveTestCgroups removes the (empty) berth-test cgroup parents
// under this process's own cgroups, in every v1 hierarchy.
func shimRemoveTestCgroups() {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		_ = os.Remove(filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(parts[1], "name="), parts[2], "berth-test"))
		for _, ctrl := range strings.Split(parts[1], ",") {
			ctrl = strings.TrimPrefix(ctrl, "name=")
			if ctrl == "" {
				ctrl = "unified"
			}
			_ = os.Remove(filepath.Join("/sys/fs/cgroup", ctrl, parts[2], "berth-test"))
		}
	}
}
