package oci

import (
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Handling says what becomes of one field of a create request.
type Handling int

const (
	// InSpec fields are turned into the OCI spec by Spec.
	InSpec Handling = iota
	// ByEngine fields are applied by engined outside the spec (names,
	// restart policy, attach, logs, etc files...).
	ByEngine
	// ClientSide fields are the client's business; dockerd does nothing
	// with them either (e.g. the CLI writes ContainerIDFile itself).
	ClientSide
	// Refused fields fail the create with an error naming them when set
	// (to anything but their zero value).
	Refused
)

// Fields is every field of container.Config, container.HostConfig (with
// its Resources) and network.NetworkingConfig, and what berth does with
// it. A unit test walks the API types by reflection and fails for a field
// missing here, so a new field of the API cannot be accepted silently.
// docs/engine.md shows the same table.
var Fields = map[string]Handling{
	"Config.Hostname": InSpec, "Config.Domainname": InSpec, "Config.User": InSpec,
	"Config.AttachStdin": ByEngine, "Config.AttachStdout": ByEngine, "Config.AttachStderr": ByEngine,
	"Config.ExposedPorts": ByEngine, // kept for inspect and commit; published with -P
	"Config.Tty":          InSpec, "Config.OpenStdin": ByEngine, "Config.StdinOnce": ByEngine,
	"Config.Env": InSpec, "Config.Cmd": InSpec, "Config.Entrypoint": InSpec,
	"Config.Healthcheck": ByEngine, "Config.ArgsEscaped": Refused,
	"Config.Image": ByEngine, "Config.Volumes": ByEngine, "Config.WorkingDir": InSpec,
	"Config.NetworkDisabled": InSpec, "Config.OnBuild": ByEngine, "Config.Labels": ByEngine,
	"Config.StopSignal": ByEngine, "Config.StopTimeout": ByEngine, "Config.Shell": ByEngine,

	"HostConfig.Binds": ByEngine, "HostConfig.ContainerIDFile": ClientSide,
	"HostConfig.LogConfig": ByEngine, "HostConfig.NetworkMode": InSpec,
	"HostConfig.PortBindings": ByEngine, "HostConfig.RestartPolicy": ByEngine,
	"HostConfig.AutoRemove": ByEngine, "HostConfig.VolumeDriver": ByEngine,
	"HostConfig.VolumesFrom": ByEngine, "HostConfig.ConsoleSize": InSpec,
	"HostConfig.Annotations": InSpec, "HostConfig.CapAdd": InSpec, "HostConfig.CapDrop": InSpec,
	"HostConfig.CgroupnsMode": InSpec, "HostConfig.Dns": ByEngine, "HostConfig.DnsOptions": ByEngine,
	"HostConfig.DnsSearch": ByEngine, "HostConfig.ExtraHosts": ByEngine,
	"HostConfig.GroupAdd": InSpec, "HostConfig.IpcMode": InSpec, "HostConfig.Cgroup": Refused,
	"HostConfig.Links": ByEngine, "HostConfig.OomScoreAdj": InSpec, "HostConfig.PidMode": InSpec,
	"HostConfig.Privileged": InSpec, "HostConfig.PublishAllPorts": ByEngine,
	"HostConfig.ReadonlyRootfs": InSpec, "HostConfig.SecurityOpt": InSpec,
	"HostConfig.StorageOpt": Refused, "HostConfig.Tmpfs": ByEngine, "HostConfig.UTSMode": InSpec,
	"HostConfig.UsernsMode": InSpec, "HostConfig.ShmSize": InSpec, "HostConfig.Sysctls": InSpec,
	"HostConfig.Runtime": ByEngine, "HostConfig.Umask": InSpec, "HostConfig.Isolation": Refused,
	"HostConfig.Mounts": ByEngine, "HostConfig.MaskedPaths": InSpec, "HostConfig.ReadonlyPaths": InSpec,
	"HostConfig.Init": InSpec,

	"HostConfig.CpuShares": InSpec, "HostConfig.Memory": InSpec, "HostConfig.NanoCpus": InSpec,
	"HostConfig.CgroupParent": InSpec, "HostConfig.BlkioWeight": InSpec,
	"HostConfig.BlkioWeightDevice": InSpec, "HostConfig.BlkioDeviceReadBps": InSpec,
	"HostConfig.BlkioDeviceWriteBps": InSpec, "HostConfig.BlkioDeviceReadIOps": InSpec,
	"HostConfig.BlkioDeviceWriteIOps": InSpec, "HostConfig.CpuPeriod": InSpec,
	"HostConfig.CpuQuota": InSpec, "HostConfig.CpuRealtimePeriod": Refused,
	"HostConfig.CpuRealtimeRuntime": Refused, "HostConfig.CpusetCpus": InSpec,
	"HostConfig.CpusetMems": InSpec, "HostConfig.Devices": InSpec,
	"HostConfig.DeviceCgroupRules": InSpec, "HostConfig.DeviceRequests": Refused,
	"HostConfig.MemoryReservation": InSpec, "HostConfig.MemorySwap": InSpec,
	"HostConfig.MemorySwappiness": InSpec, "HostConfig.OomKillDisable": InSpec,
	"HostConfig.PidsLimit": InSpec, "HostConfig.Ulimits": InSpec,
	"HostConfig.CpuCount": Refused, "HostConfig.CpuPercent": Refused,
	"HostConfig.IOMaximumIOps": Refused, "HostConfig.IOMaximumBandwidth": Refused,

	// Networking (pkg/engine/network): the networks a container joins with
	// --ip, --ip6, --mac-address and --network-alias; link-local
	// addresses and driver options are refused by Check.
	"NetworkingConfig.EndpointsConfig": ByEngine,
}

// Check refuses the options berth does not apply (yet): the endpoint's
// DNSNames (computed, not chosen), link-local addresses, and the Windows-
// or driver-only ones. Each error names its field. nc may be nil.
func Check(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	type refusal struct {
		field string
		set   bool
		what  string
	}
	checks := []refusal{
		{"Config.ArgsEscaped", cfg.ArgsEscaped, "ArgsEscaped is only supported on Windows"},
		{"HostConfig.Cgroup", hc.Cgroup != "", "joining another container's cgroup"},
		{"HostConfig.StorageOpt", len(hc.StorageOpt) > 0, "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"},
		{"HostConfig.Isolation", hc.Isolation != "" && !hc.Isolation.IsDefault(), "isolation " + string(hc.Isolation) + ": only 'default' is supported on Linux"},
	}
	for _, c := range checks {
		if c.set {
			return unsupported(c.field, "%s", c.what)
		}
	}
	if nc != nil {
		for name, ep := range nc.EndpointsConfig {
			if ep == nil {
				continue
			}
			ipam := ep.IPAMConfig
			if ipam != nil && len(ipam.LinkLocalIPs) > 0 {
				return unsupported("NetworkingConfig.EndpointsConfig", "link-local addresses for network %q (--link-local-ip)", name)
			}
			if len(ep.DNSNames) > 0 {
				return unsupported("NetworkingConfig.EndpointsConfig", "DNS names for network %q (they are the container's name, aliases, short ID and hostname)", name)
			}
			if len(ep.DriverOpts) > 0 || ep.GwPriority != 0 {
				return unsupported("NetworkingConfig.EndpointsConfig", "driver options and gateway priority for network %q", name)
			}
		}
	}
	return checkConflicts(cfg, hc)
}

// checkConflicts refuses combinations dockerd refuses, with its messages.
func checkConflicts(cfg *container.Config, hc *container.HostConfig) error {
	netContainer := hc.NetworkMode.IsContainer()
	switch {
	case netContainer && cfg.Hostname != "":
		return invalid("Config.Hostname", "conflicting options: hostname and the network mode")
	case netContainer && (len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0):
		return invalid("HostConfig.Dns", "conflicting options: dns and the network mode")
	case netContainer && len(hc.ExtraHosts) > 0:
		return invalid("HostConfig.ExtraHosts", "conflicting options: custom host-to-IP mapping and the network mode")
	case hc.UTSMode.IsHost() && cfg.Hostname != "":
		return invalid("Config.Hostname", "conflicting options: hostname and the UTS mode")
	case hc.UTSMode.IsHost() && cfg.Domainname != "":
		return invalid("Config.Domainname", "conflicting options: domainname and the UTS mode")
	case hc.Privileged && hc.UsernsMode != "" && !hc.UsernsMode.IsHost():
		return invalid("HostConfig.Privileged", "privileged mode is incompatible with user namespaces")
	}
	for _, h := range hc.ExtraHosts {
		name, _, ok := strings.Cut(h, ":")
		if !ok || name == "" {
			return invalid("HostConfig.ExtraHosts", "invalid extra host entry %q: expected HOST:IP", h)
		}
	}
	return nil
}
