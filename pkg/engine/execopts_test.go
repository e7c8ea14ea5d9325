package engine

import (
	"strings"
	"testing"
)

func TestParseExecOpts(t *testing.T) {
	for opts, want := range map[string]string{"": "cgroupfs", "native.cgroupdriver=cgroupfs": "cgroupfs",
		" native.cgroupdriver = systemd": "systemd", "native.cgroupdriver=systemd,native.cgroupdriver=cgroupfs": "cgroupfs"} {
		var list []string
		if opts != "" {
			list = strings.Split(opts, ",")
		}
		got, err := ParseExecOpts(list)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", opts, got, err, want)
		}
	}
	for opt, want := range map[string]string{
		"native.cgroupdriver=foo": "unknown cgroup driver",
		"native.unknown=1":        "--exec-opt native.unknown: unknown option",
		"nokey":                   "want KEY=VALUE",
	} {
		if _, err := ParseExecOpts([]string{"native.cgroupdriver=cgroupfs", opt}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", opt, err, want)
		}
	}
}
