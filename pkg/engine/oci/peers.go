package oci

import (
	"strconv"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// JoinsPeers reports whether hc joins another container's namespaces
// (container:NAME as pid, ipc or network mode), whose paths name that
// container's init and so go stale when it restarts.
func JoinsPeers(hc *container.HostConfig) bool {
	return hc != nil && (hc.PidMode.IsContainer() || hc.IpcMode.IsContainer() || hc.NetworkMode.IsContainer())
}

// RejoinPeers points a stored spec's joined namespaces at the peers'
// current inits (a shareable /dev/shm keeps its host path across restarts), as dockerd does by making the spec
// again at each start. It reports whether anything changed. A peer that is
// not running is an error naming the mode, as at create.
func RejoinPeers(s *specs.Spec, hc *container.HostConfig, peer func(ref string) (*Peer, error)) (bool, error) {
	if s.Linux == nil {
		return false, nil
	}
	changed := false
	set := func(field, kind, ref string, t specs.LinuxNamespaceType, name string) (*Peer, error) {
		p, err := peer(ref)
		if err != nil {
			return nil, err
		}
		if p.Pid <= 0 {
			return nil, invalid(field, "cannot join %s of a non running container: %s", kind, ref)
		}
		path := "/proc/" + strconv.Itoa(p.Pid) + "/ns/" + name
		for i := range s.Linux.Namespaces {
			if n := &s.Linux.Namespaces[i]; n.Type == t && n.Path != "" && n.Path != path {
				n.Path, changed = path, true
			}
		}
		return p, nil
	}
	if m := hc.PidMode; m.IsContainer() {
		if _, err := set("HostConfig.PidMode", "PID namespace", m.Container(), specs.PIDNamespace, "pid"); err != nil {
			return false, err
		}
	}
	if m := hc.NetworkMode; m.IsContainer() {
		if _, err := set("HostConfig.NetworkMode", "network namespace", m.ConnectedContainer(), specs.NetworkNamespace, "net"); err != nil {
			return false, err
		}
	}
	if m := hc.IpcMode; m.IsContainer() {
		if _, err := set("HostConfig.IpcMode", "IPC", m.Container(), specs.IPCNamespace, "ipc"); err != nil {
			return false, err
		}
	}
	return changed, nil
}
