package specdefaults

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPathsAreCopies(t *testing.T) {
	m := MaskedPaths()
	m[0] = "/changed"
	if MaskedPaths()[0] == "/changed" {
		t.Fatal("MaskedPaths shares its backing array with callers")
	}
	if !slices.Contains(ReadonlyPaths(), "/proc/sys") {
		t.Fatal("/proc/sys is not read-only by default")
	}
}

func TestDeviceRulesDenyFirst(t *testing.T) {
	r := DeviceRules()
	if r[0].Allow || r[0].Access != "rwm" || r[0].Type != "" {
		t.Fatalf("first rule %+v, want deny all", r[0])
	}
	if _, _, err := HostDevice("/dev/null", "/dev/null", "rwm"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := HostDevice("/", "/x", "rwm"); err != ErrNotDevice {
		t.Fatalf("HostDevice(/) = %v, want ErrNotDevice", err)
	}
}

func TestSeccompFollowsCapabilities(t *testing.T) {
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: Capabilities}}}
	p, err := Seccomp(s)
	if err != nil || p == nil || p.DefaultAction != specs.ActErrno {
		t.Fatalf("Seccomp = %v, %v", p, err)
	}
	if _, err := LoadSeccomp("{bad", s); err == nil {
		t.Fatal("a bad profile was accepted")
	}
}
