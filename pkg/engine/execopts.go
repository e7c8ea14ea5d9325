package engine

import (
	"fmt"
	"strings"
)

// CheckExecOpts validates dockerd's --exec-opt KEY=VALUE options. The one
// key dockerd has, native.cgroupdriver, may only be cgroupfs: engined
// gives containers cgroupfs paths below the runtime's own cgroup
// (berth/<id>). systemd is refused by name rather than ignored: the
// runtime's own systemd driver (runtime --systemd-cgroup, which
// supervisord passes on with --runtime NAME=PATH,--systemd-cgroup) needs
// slice:prefix:name paths, which engined does not make.
func CheckExecOpts(opts []string) error {
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("--exec-opt %q: want KEY=VALUE", o)
		}
		switch {
		case k == "native.cgroupdriver" && v == "cgroupfs":
		case k == "native.cgroupdriver" && v == "systemd":
			return fmt.Errorf("--exec-opt native.cgroupdriver=systemd is not supported: engined makes cgroupfs paths (berth/<id> below the runtime's cgroup); drop the option (the runtime's own --systemd-cgroup driver serves callers that give slice:prefix:name paths)")
		case k == "native.cgroupdriver":
			return fmt.Errorf("--exec-opt native.cgroupdriver=%s: unknown cgroup driver (cgroupfs)", v)
		default:
			return fmt.Errorf("--exec-opt %s: unknown option (engined knows native.cgroupdriver=cgroupfs)", k)
		}
	}
	return nil
}
