package cli

import (
	"errors"
	"os"
)

// systemdRunning tells whether systemd is the init system, as
// sd_booted(3) does.
func systemdRunning() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// systemdCgroupError is the refusal of --systemd-cgroup: the runtime
// writes cgroupfs itself (docs/decisions.md, "Our cgroup writer"), and says
// what to do instead on either kind of host.
func systemdCgroupError(running bool) error {
	if !running {
		return errors.New("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system): drop the flag; cgroups are made in cgroupfs, below the caller's cgroup")
	}
	return errors.New("--systemd-cgroup is not supported: berth makes cgroups in cgroupfs below the caller's cgroup (under systemd, give the caller a delegated unit: Delegate=yes); drop the flag")
}
