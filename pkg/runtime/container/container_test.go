package container

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{
		"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "kill": unix.SIGKILL, "9": unix.SIGKILL,
		"TERM": unix.SIGTERM, "SIGUSR1": unix.SIGUSR1, "15": unix.SIGTERM, "RTMIN+1": 35, "SIGRTMAX": 64,
	} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "65", "-1"} {
		if _, err := ParseSignal(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseSignal(%q) = %v, want invalid argument", bad, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "abc-1.2_3+x"} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a b"} {
		if err := ValidateID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func validSpec(t *testing.T) (*specs.Spec, string) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return DefaultSpec(false), dir
}

func TestValidate(t *testing.T) {
	s, bundle := validSpec(t)
	if err := Validate(s, bundle); err != nil {
		t.Fatalf("default spec: %v", err)
	}
	cases := map[string]func(*specs.Spec){
		"no version":     func(s *specs.Spec) { s.Version = "" },
		"no args":        func(s *specs.Spec) { s.Process.Args = nil },
		"relative cwd":   func(s *specs.Spec) { s.Process.Cwd = "x" },
		"no rootfs":      func(s *specs.Spec) { s.Root.Path = "missing" },
		"relative mount": func(s *specs.Spec) { s.Mounts[0].Destination = "proc" },
		"dup namespace": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		},
		"bad namespace": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "nope"})
		},
		"no mount ns":     func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:4] },
		"hostname no uts": func(s *specs.Spec) { s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}} },
		"bad capability":  func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_NOPE"} },
		"userns no maps": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		},
		"seccomp notify": func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify} },
		"join pid ns with a new user ns": func(s *specs.Spec) {
			s.Linux.Namespaces[0].Path = "/proc/1/ns/pid"
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		},
		"no process":       func(s *specs.Spec) { s.Process = nil },
		"no linux section": func(s *specs.Spec) { s.Linux = nil },
	}
	for name, mutate := range cases {
		s, bundle := validSpec(t)
		mutate(s)
		if err := Validate(s, bundle); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, bundle = validSpec(t)
	s.Linux.Namespaces[1].Path = "/proc/1/ns/net"
	if err := Validate(s, bundle); err != nil {
		t.Errorf("joining a network namespace: %v", err)
	}
	s.Linux.Namespaces[0].Path = "/proc/1/ns/pid"
	s.Linux.Namespaces[4].Path = "/proc/1/ns/mnt"
	if err := Validate(s, bundle); err != nil {
		t.Errorf("joining pid and mount namespaces: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := &State{State: specs.State{Version: specs.Version, ID: "c1", Status: Created, Pid: os.Getpid(), Bundle: "/b",
		Annotations: map[string]string{"a": "b"}}, dir: dir}
	_, st.InitStartTime, _ = procStat(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, fifoName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Created || got.Pid != os.Getpid() || got.Annotations["a"] != "b" {
		t.Fatalf("loaded %+v", got.State)
	}
	os.Remove(filepath.Join(dir, fifoName))
	if got, _ = Load(root, "c1"); got.Status != Running {
		t.Fatalf("without fifo: %s", got.Status)
	}
	// A reused pid (different start time) means the container has stopped.
	st.InitStartTime++
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if got, _ = Load(root, "c1"); got.Status != Stopped || got.OCIState().Pid != 0 {
		t.Fatalf("pid reuse not detected: %s", got.Status)
	}
	b, _ := json.Marshal(got.OCIState())
	for _, k := range []string{`"ociVersion"`, `"id":"c1"`, `"status":"stopped"`, `"bundle":"/b"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("state JSON %s lacks %s", b, k)
		}
	}
	if _, err := Load(root, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != "container does not exist" {
		t.Fatalf("missing container: %v", err)
	}
}
