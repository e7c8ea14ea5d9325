package cli

import (
	"strings"
	"testing"
)

func TestSystemdCgroupError(t *testing.T) {
	for _, c := range []struct {
		running bool
		want    string
	}{{false, "systemd is not running"}, {true, "Delegate=yes"}} {
		err := systemdCgroupError(c.running)
		if err == nil || !strings.Contains(err.Error(), "--systemd-cgroup") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("running=%v: %v", c.running, err)
		}
	}
}
