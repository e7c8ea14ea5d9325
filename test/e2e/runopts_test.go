package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// docker runs the docker CLI against the stack's engined.
func (s *stack) docker(args ...string) (string, string, int) {
	s.t.Helper()
	return s.dockerEnv(nil, args...)
}

// dockerEnv runs the docker CLI with env added to its environment.
func (s *stack) dockerEnv(env []string, args ...string) (string, string, int) {
	s.t.Helper()
	docker, err := exec.LookPath("docker")
	testprereq.Require(s.t, err == nil, "docker CLI")
	cmd := exec.Command(docker, args...)
	cmd.Env = append(append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg")), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("docker %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// keyctlImage is busybox plus /keyctl, a static program that calls
// keyctl(2) and prints the errno ("0" when allowed).
func keyctlImage(t *testing.T, dir string) string {
	src := filepath.Join(dir, "keyctl.go")
	os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"syscall"
)

func main() {
	// KEYCTL_GET_KEYRING_ID of the session keyring, creating it.
	_, _, e := syscall.Syscall(syscall.SYS_KEYCTL, 0, ^uintptr(2), 1)
	fmt.Println(int(e))
}
`), 0o644)
	bin := filepath.Join(dir, "keyctl")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build keyctl: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: "keyctl", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	bb, err := image.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.New(append(bb.Layers, layer.Bytes()), []string{"/keyctl"})
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "keyctl.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := img.WriteDockerArchiveTo(f, "keyctl:latest"); err != nil {
		t.Fatal(err)
	}
	return tarPath
}

// TestRunOptionsApplied checks the effect of each docker run option inside
// the container, through the docker CLI.
func TestRunOptionsApplied(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	cases := []struct {
		name string
		args []string
		want string // a line of stdout, or "exit:N"
	}{
		{"cap-drop CHOWN makes chown fail", []string{"--cap-drop", "CHOWN", "busybox", "sh", "-c", "chown 1 /tmp || echo denied"}, "denied"},
		{"default caps allow chown", []string{"busybox", "sh", "-c", "chown 1 /tmp && echo ok"}, "ok"},
		{"cap-add NET_ADMIN lets ip link set mtu work", []string{"--cap-add", "NET_ADMIN", "busybox", "sh", "-c", "ip link set lo mtu 1400 && echo ok"}, "ok"},
		{"no NET_ADMIN by default", []string{"busybox", "sh", "-c", "ip link set lo mtu 1400 2>/dev/null || echo denied"}, "denied"},
		{"cap-drop ALL cap-add CHOWN", []string{"--cap-drop", "ALL", "--cap-add", "CHOWN", "busybox", "sh", "-c", "grep CapEff /proc/self/status"}, "CapEff:\t0000000000000001"},
		{"-u 65534", []string{"-u", "65534", "busybox", "sh", "-c", "id -u"}, "65534"},
		{"--ulimit nofile", []string{"--ulimit", "nofile=123:456", "busybox", "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)"}, "123 456"},
		{"--pid host sees host processes", []string{"--pid", "host", "busybox", "sh", "-c", "test -d /proc/" + strconv.Itoa(os.Getpid()) + " && echo host"}, "host"},
		{"own pid namespace", []string{"busybox", "sh", "-c", "echo $$"}, "1"},
		{"--init is PID 1", []string{"--init", "busybox", "cat", "/proc/1/comm"}, "docker-init"},
		{"--read-only refuses writes", []string{"--read-only", "busybox", "sh", "-c", "touch /x 2>/dev/null || echo ro"}, "ro"},
		{"--privileged sees host devices and every capability", []string{"--privileged", "busybox", "sh", "-c", "ls /dev | wc -l; grep -c 'Seccomp:\t0' /proc/self/status"}, "1"},
		// ash exits 2 when it cannot fork; without the limit the same loop succeeds.
		{"--pids-limit 10 stops fork", []string{"--pids-limit", "10", "busybox", "sh", "-c", "for i in $(seq 20); do sleep 1 & done; wait"}, "exit:2"},
		{"20 forks without a pids limit", []string{"busybox", "sh", "-c", "for i in $(seq 20); do sleep 1 & done; wait; echo forked"}, "forked"},
		{"--sysctl", []string{"--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward"}, "1"},
		// dockerd's defaults for a network namespace of the container's own.
		{"non-root binds port 80", []string{"-u", "65534", "busybox", "sh", "-c", "httpd -p 80 -h / && echo bound"}, "bound"},
		{"unprivileged ping allowed", []string{"busybox", "cat", "/proc/sys/net/ipv4/ping_group_range"}, "0\t2147483647"},
		{"--network none: ports below 1024 for all", []string{"--network", "none", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}, "0"},
		{"--sysctl wins over the default", []string{"--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", "-u", "65534", "busybox", "sh", "-c", "httpd -p 80 -h / 2>/dev/null || echo refused"}, "refused"},
		{"--network host keeps the host's", []string{"--network", "host", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}, hostSysctl(t, "net/ipv4/ip_unprivileged_port_start")},
		{"--device", []string{"--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c", "echo x > /dev/mynull && echo ok"}, "ok"},
		{"host disk not openable by default", []string{"busybox", "sh", "-c", "mknod /tmp/d b 7 0 && (head -c1 /tmp/d >/dev/null 2>&1 || echo denied)"}, "denied"},
		{"--hostname --domainname", []string{"--hostname", "web", "--domainname", "example.org", "busybox", "sh", "-c", "echo $(hostname).$(cat /proc/sys/kernel/domainname)"}, "web.example.org"},
		{"--dns --dns-search --dns-option", []string{"--dns", "10.0.0.1", "--dns-search", "a.example", "--dns-option", "ndots:2", "busybox", "sh", "-c", "grep -v '^#' /etc/resolv.conf | tr '\\n' ';'"}, "search a.example;nameserver 10.0.0.1;options ndots:2;"},
		{"--add-host", []string{"--add-host", "db:10.1.1.1", "busybox", "grep", "db", "/etc/hosts"}, "10.1.1.1\tdb"},
		{"--shm-size", []string{"--shm-size", "1m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1 | awk '{print $2}'"}, "1024"},
		{"--network none has loopback only", []string{"--network", "none", "busybox", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"}, "lo "},
		{"--network none has lo up (as dockerd)", []string{"--network", "none", "busybox", "cat", "/sys/class/net/lo/flags"}, "0x9"},
		{"--network host", []string{"--network", "host", "busybox", "sh", "-c", "test $(ls /sys/class/net | wc -l) -gt 1 && echo host"}, "host"},
		{"--oom-score-adj", []string{"--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj"}, "500"},
		{"-w creates a missing directory", []string{"-w", "/new/dir", "busybox", "pwd"}, "/new/dir"},
		{"--entrypoint ''", []string{"--entrypoint", "", "busybox", "echo", "hi"}, "hi"},
		{"--security-opt no-new-privileges", []string{"--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"}, "NoNewPrivs:\t1"},
		{"default seccomp: unshare --user fails", []string{"busybox", "sh", "-c", "unshare -U true 2>/dev/null || echo EPERM"}, "EPERM"},
		{"seccomp=unconfined lifts it", []string{"--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", "grep 'Seccomp:' /proc/self/status"}, "Seccomp:\t0"},
		{"--cpus", []string{"--cpus", "0.5", "busybox", "sh", "-c", "echo ok"}, "ok"},
		{"-m OOM-kills at the limit", []string{"-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c", "x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo survived"}, "exit:137"},
		{"--ipc none has no /dev/shm", []string{"--ipc", "none", "busybox", "sh", "-c", "grep -c ' /dev/shm ' /proc/mounts || true"}, "0"},
		{"--cgroupns private", []string{"--cgroupns", "private", "busybox", "sh", "-c", "cat /proc/self/cgroup | grep -c ':/$' | grep -qv '^0$' && echo private"}, "private"},
		{"--gpus refused (no device drivers)", []string{"--gpus", "all", "busybox", "true"}, "exit:125"},
		{"-p with --network host refused", []string{"--network", "host", "-p", "8080:80", "busybox", "true"}, "exit:125"},
		{"-p with --network none refused", []string{"--network", "none", "-p", "80", "busybox", "true"}, "exit:125"},
	}
	// The common options go through ctl too: it must send the same.
	common := map[string]bool{
		"cap-drop CHOWN makes chown fail": true, "-u 65534": true, "--ulimit nofile": true,
		"--read-only refuses writes": true, "--init is PID 1": true, "--network none has loopback only": true,
		"--pids-limit 10 stops fork": true, "-m OOM-kills at the limit": true, "--security-opt no-new-privileges": true,
		"--privileged sees host devices and every capability": true, "-w creates a missing directory": true,
	}
	type run struct {
		name, want string
		args       []string
		do         func(...string) (string, string, int)
	}
	var runs []run
	for _, c := range cases {
		runs = append(runs, run{c.name, c.want, c.args, s.docker})
		if common[c.name] {
			runs = append(runs, run{"ctl " + c.name, c.want, c.args, s.run})
		}
	}
	if len(runs) != len(cases)+len(common) {
		t.Fatalf("a common case is misnamed: %d runs for %d cases", len(runs), len(cases))
	}
	for _, c := range runs {
		out, errOut, code := c.do(append([]string{"run", "--rm"}, c.args...)...)
		if want, ok := strings.CutPrefix(c.want, "exit:"); ok {
			if strconv.Itoa(code) != want {
				t.Errorf("%s: exit %d, want %s\nstdout %q\nstderr %q", c.name, code, want, out, errOut)
			}
			continue
		}
		found := false
		for _, l := range strings.Split(out, "\n") {
			if l == c.want {
				found = true
			}
		}
		if code != 0 || !found {
			t.Errorf("%s: exit %d, stdout %q (want a line %q), stderr %q", c.name, code, out, c.want, errOut)
		}
	}
	if ps, _, _ := s.docker("ps", "-aq"); strings.TrimSpace(ps) != "" {
		t.Errorf("--rm left containers: %q", ps)
	}
}

// TestRunOptionsPrivilegedDevices: a privileged container sees the host's
// block devices, a default one does not.
func TestRunOptionsPrivilegedDevices(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host, _ := os.ReadDir("/dev")
	n := 0
	for _, e := range host {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			n++
		}
	}
	testprereq.Require(t, n > 0, "a block device in the host's /dev")
	out, _, _ := s.docker("run", "--rm", "--privileged", "busybox", "sh", "-c", "find /dev -type b | wc -l")
	if strings.TrimSpace(out) != strconv.Itoa(n) {
		t.Errorf("privileged sees %s block devices, host has %d", strings.TrimSpace(out), n)
	}
	out, _, _ = s.docker("run", "--rm", "busybox", "sh", "-c", "find /dev -type b | wc -l")
	if strings.TrimSpace(out) != "0" {
		t.Errorf("default container sees %s block devices", strings.TrimSpace(out))
	}
}

// TestRunOptionsSeccompKeyctl: keyctl fails with EPERM under the default
// profile, as under Docker, and works unconfined.
func TestRunOptionsSeccompKeyctl(t *testing.T) {
	_, err := exec.LookPath("go")
	testprereq.Require(t, err == nil, "go toolchain to build the keyctl probe")
	s := newStack(t)
	tarPath := keyctlImage(t, s.root)
	if out, errOut, code := s.docker("load", "-i", tarPath); code != 0 {
		t.Fatalf("load: %s %s", out, errOut)
	}
	out, errOut, _ := s.docker("run", "--rm", "keyctl")
	if strings.TrimSpace(out) != "1" { // EPERM
		t.Errorf("keyctl under the default profile: errno %q (stderr %q), want 1 (EPERM)", out, errOut)
	}
	out, errOut, _ = s.docker("run", "--rm", "--security-opt", "seccomp=unconfined", "keyctl")
	if strings.TrimSpace(out) != "0" {
		t.Errorf("keyctl unconfined: errno %q (stderr %q), want 0", out, errOut)
	}
}

// TestRunOptionsInitReapsZombies: with --init an orphan that exits is
// reaped by PID 1.
func TestRunOptionsInitReapsZombies(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	// The orphan's parent (the inner sh) exits at once; the orphan sleeps
	// briefly, exits, and must not stay a zombie.
	script := `sh -c 'sleep 0.3 &'; sleep 1; ps -o stat | grep -c '^Z' || true`
	out, errOut, code := s.docker("run", "--rm", "--init", "busybox", "sh", "-c", script)
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("zombies with --init: %q (exit %d, %s)", out, code, errOut)
	}
}

// TestRunOptionsBadInput: each bad option gets a 400 naming it and leaves
// no container, cgroup, mount or snapshot.
func TestRunOptionsBadInput(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	mountsBefore := len(s.mountsUnder())
	cases := []struct {
		body string
		want string
	}{
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":-5}}`, "Minimum memory limit allowed is 6MB"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"NanoCpus":1000000000000}}`, "Range of CPUs is from 0.01"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Devices":[{"PathOnHost":"/dev/nosuch","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}}`, "error gathering device information"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"CapAdd":["NOPE"]}}`, "unknown capability"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Ulimits":[{"Name":"nofile","Soft":10,"Hard":5}]}}`, "ulimit soft limit must be less than or equal to hard limit"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Ulimits":[{"Name":"bogus","Soft":1,"Hard":1}]}}`, "invalid ulimit type"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}`, "invalid restart policy"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"KernelMemory":1048576}}`, "HostConfig.KernelMemory"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"DeviceRequests":[{"Driver":"nvidia","Count":-1,"Capabilities":[["gpu"]]}]}}`, "could not select device driver"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["/tmp:rel"]}}`, "must be absolute"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"SecurityOpt":["apparmor=docker-default"]}}`, "AppArmor is not enabled"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Sysctls":{"kernel.panic":"1"}}}`, "kernel.panic"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"PidMode":"container:nosuch"}}`, "No such container: nosuch"},
	}
	for _, c := range cases {
		status, body := s.http("POST", "/containers/create", "application/json", []byte(c.body))
		if status < 400 || status >= 500 && status != 501 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 4xx with %q", c.body, status, body, c.want)
		}
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil || m["message"] == nil {
			t.Errorf("%s: not a docker error body: %s", c.body, body)
		}
	}
	if ps := strings.TrimSpace(s.mustRun("ps", "-aq")); ps != "" {
		t.Errorf("failed creates left containers: %q", ps)
	}
	if n := len(s.mountsUnder()); n != mountsBefore {
		t.Errorf("failed creates left mounts: %v", s.mountsUnder())
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "eng", "containers"))
	if len(ents) != 0 {
		t.Errorf("failed creates left engine state: %v", ents)
	}
}

// hostSysctl is the host's value of a sysctl (its path under /proc/sys).
func hostSysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
