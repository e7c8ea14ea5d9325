package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestCgroupsPath(t *testing.T) {
	for _, c := range []struct {
		parent  string
		systemd bool
		want    string
		err     string
	}{
		{"", false, "berth/c1", ""},
		{"/my/parent/", false, "my/parent/c1", ""},
		{"a/../b", false, "", "invalid cgroup parent"},
		{"", true, "system.slice:berth:c1", ""},
		{"machine.slice", true, "machine.slice:berth:c1", ""},
		{"my/parent", true, "", "valid slice"},
		{".slice", true, "", "valid slice"},
		{"a:b.slice", true, "", "valid slice"},
	} {
		got, err := cgroupsPath("c1", c.parent, c.systemd)
		if c.err != "" {
			var oe *OptionError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &oe) || oe.Field != "HostConfig.CgroupParent" {
				t.Errorf("%q systemd=%v: %q %v, want an error with %q", c.parent, c.systemd, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q systemd=%v: %q %v, want %q", c.parent, c.systemd, got, err, c.want)
		}
	}
}
