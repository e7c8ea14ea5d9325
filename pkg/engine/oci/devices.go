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

	"github.com/berthd/berth/pkg/specdefaults"
)

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
	return specdefaults.DeviceRule(m[1], num(m[2]), num(m[3]), m[4]), nil
}

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
				d, rule, err := specdefaults.HostDevice(p, filepath.Join(ctr, strings.TrimPrefix(p, root)), perms)
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
		d, rule, err := specdefaults.HostDevice(m.PathOnHost, ctr, perms)
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
