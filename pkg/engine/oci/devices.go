package oci

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDeviceRules denies every device but the ones docker allows: null,
// zero, full, random, urandom, tty, console, ptmx and the pty slaves (the
// runtime creates the nodes), and mknod of any character or block device
// (so CAP_MKNOD can make a node but not open a host disk through it).
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		devRule("c", -1, -1, "m"), devRule("b", -1, -1, "m"),
		devRule("c", 1, 3, "rwm"), devRule("c", 1, 5, "rwm"), devRule("c", 1, 7, "rwm"),
		devRule("c", 1, 8, "rwm"), devRule("c", 1, 9, "rwm"),
		devRule("c", 5, 0, "rwm"), devRule("c", 5, 1, "rwm"), devRule("c", 5, 2, "rwm"),
		devRule("c", 136, -1, "rwm"),
		devRule("c", 10, 200, "rwm"), // /dev/net/tun: docker allows it, the node is not created
	}
}

func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = &major
	}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

var cgroupRuleRE = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// parseCgroupRule reads a --device-cgroup-rule ("c 1:3 rwm", "a *:* m").
func parseCgroupRule(s string) (specs.LinuxDeviceCgroup, error) {
	m := cgroupRuleRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return specs.LinuxDeviceCgroup{}, invalid("HostConfig.DeviceCgroupRules", "invalid device cgroup rule format: '%s'", s)
	}
	num := func(v string) int64 {
		if v == "*" {
			return -1
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return devRule(m[1], num(m[2]), num(m[3]), m[4]), nil
}

// hostDevice describes one host device node for the spec.
func hostDevice(path, ctrPath, perms string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, err
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, errNotDevice
	}
	major, minor := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	d := specs.LinuxDevice{Path: ctrPath, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid}
	return d, devRule(typ, major, minor, perms), nil
}

type notDevice struct{}

func (notDevice) Error() string { return "not a device node" }

var errNotDevice = notDevice{}

// applyDevices adds --device mappings (a directory maps every device below
// it, as dockerd does) and --device-cgroup-rule entries.
func applyDevices(s *specs.Spec, r *container.Resources) error {
	for _, m := range r.Devices {
		perms := m.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return invalid("HostConfig.Devices", "invalid device mode: %s", perms)
		}
		ctr := m.PathInContainer
		if ctr == "" {
			ctr = m.PathOnHost
		}
		if !filepath.IsAbs(ctr) {
			return invalid("HostConfig.Devices", "%s is not an absolute path", ctr)
		}
		fi, err := os.Stat(m.PathOnHost)
		if err != nil {
			return invalid("HostConfig.Devices", "error gathering device information while adding custom device %q: %v", m.PathOnHost, unwrapPathErr(err))
		}
		if fi.IsDir() {
			root := filepath.Clean(m.PathOnHost)
			err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return nil
				}
				d, rule, err := hostDevice(p, filepath.Join(ctr, strings.TrimPrefix(p, root)), perms)
				if err != nil {
					return nil
				}
				s.Linux.Devices = append(s.Linux.Devices, d)
				s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
				return nil
			})
			if err != nil {
				return invalid("HostConfig.Devices", "error gathering device information while adding custom device %q: %v", m.PathOnHost, err)
			}
			continue
		}
		d, rule, err := hostDevice(m.PathOnHost, ctr, perms)
		if err != nil {
			return invalid("HostConfig.Devices", "error gathering device information while adding custom device %q: %v", m.PathOnHost, unwrapPathErr(err))
		}
		s.Linux.Devices = append(s.Linux.Devices, d)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	for _, rs := range r.DeviceCgroupRules {
		rule, err := parseCgroupRule(rs)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// privilegedDevices is every device node of the host's /dev (as dockerd
// gives a privileged container), skipping the per-container ones the
// runtime mounts itself.
func privilegedDevices() []specs.LinuxDevice {
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
		d, _, err := hostDevice(p, p, "rwm")
		if err == nil {
			out = append(out, d)
		}
		return nil
	})
	return out
}
