package oci

import (
	"fmt"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
)

// DefaultShmSize is docker's /dev/shm size.
const DefaultShmSize = 64 * 1024 * 1024

// applyNamespaces sets the namespaces of the pid, ipc, uts, network, user
// and cgroup modes, and /dev/shm as the IPC mode wants it. A
// container:NAME mode joins the other container's namespace by its
// /proc/PID/ns path, which the runtime opens.
func applyNamespaces(s *specs.Spec, o Options, hc *container.HostConfig) error {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	peer := func(field, kind, ref string) (*Peer, error) {
		if o.Peer == nil {
			return nil, unsupported(field, "joining another container")
		}
		p, err := o.Peer(ref)
		if err != nil {
			return nil, err
		}
		if p.Pid <= 0 {
			return nil, invalid(field, "cannot join %s of a non running container: %s", kind, ref)
		}
		return p, nil
	}
	nsPath := func(pid int, name string) string { return "/proc/" + strconv.Itoa(pid) + "/ns/" + name }

	// PID
	switch m := hc.PidMode; {
	case m == "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case m.IsHost():
	case m.IsContainer():
		p, err := peer("HostConfig.PidMode", "PID namespace", m.Container())
		if err != nil {
			return err
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: nsPath(p.Pid, "pid")})
	default:
		return invalid("HostConfig.PidMode", "invalid PID mode: %s", m)
	}

	// IPC, and /dev/shm with it
	shmSize := hc.ShmSize
	if shmSize < 0 {
		return invalid("HostConfig.ShmSize", "SHM size can not be less than 0")
	}
	if shmSize == 0 {
		shmSize = DefaultShmSize
	}
	shm := specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}}
	switch m := hc.IpcMode; {
	case m.IsShareable() && o.ShmPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
		s.Mounts = append(s.Mounts, shmBind(o.ShmPath))
	case m == "" || m.IsPrivate() || m.IsShareable():
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
		s.Mounts = append(s.Mounts, shm)
	case m.IsNone():
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	case m.IsHost():
		if hc.ShmSize != 0 {
			return invalid("HostConfig.ShmSize", "--shm-size can not be used with --ipc host")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}})
	case m.IsContainer():
		p, err := peer("HostConfig.IpcMode", "IPC", m.Container())
		if err != nil {
			return err
		}
		if !p.IpcShareable && !p.IpcHost {
			return invalid("HostConfig.IpcMode", "cannot join IPC of a non-shareable container: %s (hint: use IpcMode:shareable for the donor container)", m.Container())
		}
		if hc.ShmSize != 0 {
			return invalid("HostConfig.ShmSize", "--shm-size can not be used with --ipc container")
		}
		if p.IpcHost {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}})
		} else {
			if p.ShmPath == "" {
				return invalid("HostConfig.IpcMode", "cannot join IPC of %s: it has no shareable /dev/shm", m.Container())
			}
			ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: nsPath(p.Pid, "ipc")})
			s.Mounts = append(s.Mounts, shmBind(p.ShmPath))
		}
	default:
		return invalid("HostConfig.IpcMode", "invalid IPC mode: %s", m)
	}

	// UTS
	switch m := hc.UTSMode; {
	case m == "" || m == "private":
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	case m.IsHost():
		// The host's name is the container's: none may be set.
		s.Hostname, s.Domainname = "", ""
	default:
		return invalid("HostConfig.UTSMode", "invalid UTS mode: %s", m)
	}

	// Network: the default bridge and user networks join the namespace the
	// engine holds (and wires) for the container; "none" gets a fresh one
	// with loopback only.
	m := hc.NetworkMode
	if o.Config != nil && o.Config.NetworkDisabled {
		m = network.NetworkNone
	}
	switch {
	case m.IsNone():
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case o.NetNSPath != "" && !m.IsHost() && !m.IsContainer():
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNSPath})
	case m == "" || m.IsDefault() || m.IsBridge():
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case m.IsHost():
	case m.IsContainer():
		p, err := peer("HostConfig.NetworkMode", "network namespace", m.ConnectedContainer())
		if err != nil {
			return err
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath(p.Pid, "net")})
	default:
		// 400, not 404: the docker CLI takes a 404 at create for a missing
		// image and would try to pull it.
		return &OptionError{Field: "HostConfig.NetworkMode", Msg: fmt.Sprintf("network %s not found", m.NetworkName()), class: errdefs.ErrInvalidArgument}
	}

	// User namespaces: with --userns-remap, every container but those
	// asking for the host's gets one of its own, mapped to the daemon's
	// subordinate ranges (its rootfs is mounted through the same mapping
	// by supervisord).
	switch m := hc.UsernsMode; {
	case m.IsHost():
	case m != "":
		return invalid("HostConfig.UsernsMode", "invalid USER mode: %s", m)
	case len(o.UIDMappings) > 0:
		if err := remapConflicts(hc); err != nil {
			return err
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = o.UIDMappings, o.GIDMappings
	}

	// Cgroup namespace: docker's default is "host" on a cgroup v1 host and
	// "private" on a v2 one.
	switch m := hc.CgroupnsMode; {
	case m.IsEmpty() && !o.System.CgroupV2 || m.IsHost():
	case m.IsEmpty() || m.IsPrivate():
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	default:
		return invalid("HostConfig.CgroupnsMode", "invalid cgroup namespace mode: %s", m)
	}
	s.Linux.Namespaces = ns
	return nil
}

// remapConflicts refuses what dockerd's documentation lists as
// incompatible with a remapped user namespace unless the container opts out
// with --userns host.
func remapConflicts(hc *container.HostConfig) error {
	switch {
	case hc.Privileged:
		return invalid("HostConfig.Privileged", "privileged mode is incompatible with user namespaces. You must run the container in the host namespace when running privileged mode (--userns host)")
	case hc.NetworkMode.IsHost():
		return invalid("HostConfig.NetworkMode", "cannot share the host's network namespace when user namespaces are enabled (use --userns host)")
	case hc.PidMode.IsHost():
		return invalid("HostConfig.PidMode", "cannot share the host PID namespace when user namespaces are enabled (use --userns host)")
	}
	return nil
}

// shmBind binds a shareable container's host tmpfs at /dev/shm.
func shmBind(src string) specs.Mount {
	return specs.Mount{Destination: "/dev/shm", Type: "bind", Source: src, Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
}
