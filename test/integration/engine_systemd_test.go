package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// TestEngineSystemdCgroupDriver runs the whole stack as a systemd host
// would: supervisord (its berth runtime registered with --systemd-cgroup)
// and engined --exec-opt native.cgroupdriver=systemd in a private
// systemd's namespaces. A container run through ctl lands in the scope
// berth-<id>.scope with its memory limit as a unit property; info says
// systemd; rm -f stops the scope. Everything goes with systemd's pid and
// mount namespaces at the end.
func TestEngineSystemdCgroupDriver(t *testing.T) {
	testprereq.Root(t)
	bin := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, bin != "", "BERTH_BIN_DIR (bin/supervisord, bin/engined, bin/ctl)")
	bin, _ = filepath.Abs(bin)
	busybox, err := exec.LookPath("busybox")
	testprereq.Require(t, err == nil, "busybox")
	root, err := os.MkdirTemp("", "bsd") // short: socket paths
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so removed after systemd's namespaces (and the
	// mounts supervisord made in them) are gone.
	t.Cleanup(func() { os.RemoveAll(root) })
	sd := startSystemd(t, false)
	rootfs := filepath.Join(root, "rootfs", "bin")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "sleep")); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(root, "bb.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(root, "rootfs"), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}

	supSock, engSock := filepath.Join(root, "sup.sock"), filepath.Join(root, "eng.sock")
	daemon := func(name, sock string, args ...string) {
		t.Helper()
		log, err := os.Create(filepath.Join(root, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		w := sd.wrap()
		cmd := exec.Command(w[0], append(append(w[1:], filepath.Join(bin, name)), args...)...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }()
		for i := 0; i < 1000; i++ {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		out, _ := os.ReadFile(log.Name())
		t.Fatalf("%s did not listen on %s:\n%s", name, sock, out)
	}
	// engined keeps its bridge and nftables table across its restarts, as
	// dockerd keeps docker0: the test removes them. Left behind, each run's
	// bridge kept its address and the next run's engined added another
	// pool's to it, until no default pool was free.
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", "bsd0").Run()
		_ = exec.Command("nft", "delete", "table", "ip", "berth_sd").Run()
		_ = exec.Command("nft", "delete", "table", "ip6", "berth_sd").Run()
	})
	daemon("supervisord", supSock, "--root", filepath.Join(root, "sup"), "--state", filepath.Join(root, "run"),
		"--address", supSock, "--runtime", "berth="+filepath.Join(bin, "runtime")+",--systemd-cgroup")
	daemon("engined", engSock, "-H", "unix://"+engSock, "--data-root", filepath.Join(root, "eng"),
		"--exec-root", filepath.Join(root, "engrun"), "--supervisor", "unix://"+supSock,
		"--default-bridge", "bsd0", "--nft-table", "berth_sd", "--exec-opt", "native.cgroupdriver=systemd")
	ctl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(bin, "ctl"), append([]string{"-H", "unix://" + engSock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctl %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := ctl("info"); !strings.Contains(out, "Cgroup Driver: systemd") {
		t.Errorf("info:\n%s", out)
	}
	ctl("import", tarball, "bb:1")
	ctl("run", "-d", "--network", "none", "--name", "sdc", "--memory", "64m", "bb:1", "sleep", "1000")
	id := ctl("inspect", "-f", "{{.Id}}", "sdc")
	pid := ctl("inspect", "-f", "{{.State.Pid}}", "sdc") // in systemd's pid namespace
	unit := "berth-" + id + ".scope"
	if out, err := sd.systemctl("status", pid); !strings.Contains(out, unit) {
		t.Fatalf("systemctl status %s does not name %s (%v):\n%s", pid, unit, err, out)
	}
	memProp := "MemoryLimit"
	if sd.v2 {
		memProp = "MemoryMax"
	}
	if p := sd.props(t, unit, "ActiveState", memProp, "Delegate"); p["ActiveState"] != "active" || p[memProp] != "67108864" || p["Delegate"] != "yes" {
		t.Errorf("%s: %v", unit, p)
	}
	ctl("rm", "-f", "sdc")
	if load, _ := sd.unitState(t, unit); load != "not-found" {
		t.Errorf("after rm -f %s is %s", unit, load)
	}
}
