package oci

import (
	"path"
	"strings"
)

// cgroupsPath is the container's linux.cgroupsPath. cgroupfs: relative
// (berth/ID, or PARENT/ID for --cgroup-parent), so the runtime puts it below
// the daemon's own cgroup: a container never escapes the hierarchy its
// engine runs in. systemd: runc's slice:prefix:name, in system.slice or
// the --cgroup-parent slice, as dockerd's systemd driver makes it.
func cgroupsPath(id, parent string, systemd bool) (string, error) {
	if systemd {
		if parent == "" {
			return "system.slice:berth:" + id, nil
		}
		if !strings.HasSuffix(parent, ".slice") || len(parent) <= len(".slice") || strings.ContainsAny(parent, "/:") {
			return "", invalid("HostConfig.CgroupParent", "cgroup-parent for systemd cgroup should be a valid slice named as \"xxx.slice\"")
		}
		return parent + ":berth:" + id, nil
	}
	if parent == "" {
		return "berth/" + id, nil
	}
	p := strings.Trim(path.Clean("/"+parent), "/")
	if p == "" || strings.Contains(parent, "..") {
		return "", invalid("HostConfig.CgroupParent", "invalid cgroup parent %q", parent)
	}
	return p + "/" + id, nil
}
