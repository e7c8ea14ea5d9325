package engine

import (
	"fmt"
	"strings"
)

// ParseExecOpts reads dockerd's --exec-opt KEY=VALUE options and returns
// the cgroup driver. The one key dockerd has is native.cgroupdriver:
// cgroupfs (the default: berth/<id> below the runtime's own cgroup) or
// systemd (slice:berth:<id> paths, for a supervisord whose runtimes run
// with --systemd-cgroup: supervisord --runtime NAME=PATH,--systemd-cgroup).
// Anything else is refused by name.
func ParseExecOpts(opts []string) (driver string, err error) {
	driver = "cgroupfs"
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return "", fmt.Errorf("--exec-opt %q: want KEY=VALUE", o)
		}
		if k != "native.cgroupdriver" {
			return "", fmt.Errorf("--exec-opt %s: unknown option (engined knows native.cgroupdriver)", k)
		}
		if v != "cgroupfs" && v != "systemd" {
			return "", fmt.Errorf("--exec-opt native.cgroupdriver=%s: unknown cgroup driver (cgroupfs or systemd)", v)
		}
		driver = v
	}
	return driver, nil
}
