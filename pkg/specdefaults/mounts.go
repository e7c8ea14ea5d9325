package specdefaults

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Mounts are docker's: /proc, a /dev tmpfs, devpts, mqueue, /sys read-only
// (read-write when sysRW), the cgroup tree read-only unless cgroupRW.
// /dev/shm is left to the caller (it depends on the IPC mode).
func Mounts(cgroupRW, sysRW bool) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if sysRW {
		sysOpts = sysOpts[:3]
	}
	cgOpts := []string{"ro", "nosuid", "noexec", "nodev"}
	if cgroupRW {
		cgOpts = cgOpts[1:]
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
}
