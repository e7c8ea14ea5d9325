package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

// --preserve-fds N hands the caller's fds 3..2+N to the container process at
// the same numbers, and nothing else.
func TestRuntimePreserveFds(t *testing.T) {
	e := newRtEnv(t, nil, "sh", "-c", "cat <&3; cat <&4; ls /proc/self/fd | tr '\\n' ' '")
	var files []*os.File
	for i, s := range []string{"three\n", "four\n"} {
		p := filepath.Join(e.dir, "fd"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	out, errOut, code := e.cmd(t, files, "run", "--preserve-fds", "2", "pfd")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// 0-2, 3 and 4, and the fd ls itself opens for /proc/self/fd.
	if !strings.HasPrefix(out, "three\nfour\n") || strings.TrimSpace(out[len("three\nfour\n"):]) != "0 1 2 3 4 5" {
		t.Fatalf("output %q", out)
	}
	// exec too.
	e.editSpec(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	e.cleanup(t, "pfd2")
	e.must(t, "run", "-d", "pfd2")
	if _, err := files[0].Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = e.cmd(t, files[:1], "exec", "--preserve-fds", "1", "pfd2", "sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '")
	if code != 0 || out != "three\n0 1 2 3 4 " {
		t.Fatalf("exec: exit %d: %q %s", code, out, errOut)
	}
}

// A new time namespace with a monotonic and a boottime offset: the
// container's uptime (CLOCK_BOOTTIME) is a day ahead of the host's.
func TestRuntimeTimeNamespace(t *testing.T) {
	_, err := os.Stat("/proc/self/ns/time")
	testprereq.Require(t, err == nil, "a kernel with time namespaces")
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 86400}, "monotonic": {Secs: 86400}}
	}, "cat", "/proc/uptime")
	out := e.must(t, "run", "timens")
	host, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	var in, h float64
	if _, err := fmt.Sscan(out, &in); err != nil {
		t.Fatalf("uptime %q: %v", out, err)
	}
	fmt.Sscan(string(host), &h)
	if in-h < 86000 || in-h > 87000 {
		t.Fatalf("container uptime %.0f, host %.0f: want a day apart", in, h)
	}
	// exec joins the time namespace too.
	e.editSpec(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	e.cleanup(t, "timens2")
	e.must(t, "run", "-d", "timens2")
	out = e.must(t, "exec", "timens2", "cat", "/proc/uptime")
	if _, err := fmt.Sscan(out, &in); err != nil || in < 86000 {
		t.Fatalf("uptime in exec %q: %v", out, err)
	}
}

// linux.devices: made with mknod (mode, owner) in a plain container, bind
// mounted from the host inside a user namespace, where mknod is not allowed.
func TestRuntimeLinuxDevices(t *testing.T) {
	_, err := os.Stat("/dev/kmsg")
	testprereq.Require(t, err == nil, "/dev/kmsg on the host")
	mode := os.FileMode(0o640)
	uid := uint32(7)
	dev := specs.LinuxDevice{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: &mode, UID: &uid}
	e := newRtEnv(t, func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{dev} },
		"stat", "-c", "%F %t:%T %a %u", "/dev/kmsg")
	if out := e.must(t, "run", "dev1"); out != "character special file 1:b 640 7\n" {
		t.Fatalf("mknod'ed device: %q", out)
	}
	e = newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{dev}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}, "stat", "-c", "%F %t:%T", "/dev/kmsg")
	if err := os.Chmod(e.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if out := e.must(t, "run", "dev2"); out != "character special file 1:b\n" {
		t.Fatalf("device in a user namespace: %q", out)
	}
}

// Joining a user namespace by path: the second container's new namespaces
// are made inside the first one's user namespace (its root is host uid
// 200000, not 0), and it shares the first one's processes.
func TestRuntimeJoinUserNamespace(t *testing.T) {
	userns := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}
	a := newRtEnv(t, userns, "sleep", "100")
	if err := os.Chmod(a.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	a.cleanup(t, "jua")
	a.must(t, "run", "-d", "jua")
	pid := a.state(t, "jua").Pid
	b := newRtEnv(t, func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", pid)
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace,
			Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	}, "sh", "-c", "cat /proc/self/uid_map; ps -o pid,comm")
	if err := os.Chmod(b.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := b.cmd(t, nil, "run", "jub")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if f := strings.Fields(out); len(f) < 3 || f[0] != "0" || f[1] != "200000" || !strings.Contains(out, "1 sleep") {
		t.Fatalf("output %q: want a's uid map and a's processes", out)
	}
}

// `run --keep`, as runc's: the exited container stays, stopped, until
// delete removes it; without it run deletes it.
func TestRuntimeRunKeep(t *testing.T) {
	e := newRtEnv(t, nil, "true")
	e.cleanup(t, "kept")
	e.must(t, "run", "--keep", "--bundle", e.bundle, "kept")
	if st := e.state(t, "kept"); st.Status != specs.StateStopped {
		t.Fatalf("after run --keep: status %q, want stopped", st.Status)
	}
	e.must(t, "delete", "kept")
	if _, _, code := e.cmd(t, nil, "state", "kept"); code == 0 {
		t.Fatal("state after delete succeeded")
	}
	e.must(t, "run", "--bundle", e.bundle, "notkept")
	if _, _, code := e.cmd(t, nil, "state", "notkept"); code == 0 {
		t.Fatal("run without --keep left the container")
	}
}
