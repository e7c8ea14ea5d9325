package engine

import (
	"strings"
	"testing"
)

func TestCheckExecOpts(t *testing.T) {
	if err := CheckExecOpts([]string{"native.cgroupdriver=cgroupfs", " native.cgroupdriver = cgroupfs"}); err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{
		"native.cgroupdriver=systemd": "native.cgroupdriver=systemd is not supported",
		"native.cgroupdriver=foo":     "unknown cgroup driver",
		"native.unknown=1":            "--exec-opt native.unknown: unknown option",
		"nokey":                       "want KEY=VALUE",
	} {
		if err := CheckExecOpts([]string{"native.cgroupdriver=cgroupfs", opt}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", opt, err, want)
		}
	}
}
