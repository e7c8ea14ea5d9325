package specdefaults

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DeviceRules denies every device but the ones docker allows: null, zero,
// full, random, urandom, tty, console, ptmx and the pty slaves (the runtime
// creates the nodes), and mknod of any character or block device (so
// CAP_MKNOD can make a node but not open a host disk through it).
func DeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		DeviceRule("c", -1, -1, "m"), DeviceRule("b", -1, -1, "m"),
		DeviceRule("c", 1, 3, "rwm"), DeviceRule("c", 1, 5, "rwm"), DeviceRule("c", 1, 7, "rwm"),
		DeviceRule("c", 1, 8, "rwm"), DeviceRule("c", 1, 9, "rwm"),
		DeviceRule("c", 5, 0, "rwm"), DeviceRule("c", 5, 1, "rwm"), DeviceRule("c", 5, 2, "rwm"),
		DeviceRule("c", 136, -1, "rwm"),
		DeviceRule("c", 10, 200, "rwm"), // /dev/net/tun: docker allows it, the node is not created
	}
}

// DeviceRule is one allow rule; a negative major or minor is a wildcard.
func DeviceRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = &major
	}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

// ErrNotDevice is returned by HostDevice for a path that is no device node.
var ErrNotDevice = errors.New("not a device node")

// HostDevice describes the host's device node at path as the device
// ctrPath of a container, with a cgroup rule granting perms on it.
func HostDevice(path, ctrPath, perms string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, ErrNotDevice
	}
	major, minor := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	d := specs.LinuxDevice{Path: ctrPath, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid}
	return d, DeviceRule(typ, major, minor, perms), nil
}

// PrivilegedDevices is every device node of the host's /dev (as dockerd
// and containerd give a privileged container), skipping the per-container
// ones the runtime mounts itself.
func PrivilegedDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			switch p {
			case "/dev/pts", "/dev/mqueue", "/dev/shm", "/dev/.lxc", "/dev/.udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" || p == "/dev/ptmx" || e.Type()&fs.ModeDevice == 0 {
			return nil
		}
		d, _, err := HostDevice(p, p, "rwm")
		if err == nil {
			out = append(out, d)
		}
		return nil
	})
	return out
}
