package containers

// WithSystemdCgroup gives containers systemd cgroupsPaths
// (slice:berth:ID): engined --exec-opt native.cgroupdriver=systemd, for
// a supervisor whose runtimes run with --systemd-cgroup.
func WithSystemdCgroup(on bool) Option { return func(d *Daemon) { d.systemdCgroup = on } }

// CgroupDriver is the driver info reports, as dockerd's.
func (d *Daemon) CgroupDriver() string {
	if d.systemdCgroup {
		return "systemd"
	}
	return "cgroupfs"
}
