package oci

import (
	"maps"
	"os"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/userns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rlimits maps docker's --ulimit names to the OCI ones.
var rlimits = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

func applyUlimits(p *specs.Process, l []*container.Ulimit) {
	for _, u := range l {
		p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{
			Type: rlimits[strings.ToLower(u.Name)], Soft: uint64(u.Soft), Hard: uint64(u.Hard),
		})
	}
}

// namespacedSysctl tells whether a sysctl belongs to a namespace the
// container has of its own (dockerd's list): IPC ones need a private IPC
// namespace, net.* a private network namespace, kernel.domainname and
// kernel.hostname a private UTS namespace.
func checkSysctls(sysctls map[string]string, ipcHost, netHost, utsHost bool) error {
	for k := range sysctls {
		ns := ""
		switch {
		case k == "kernel.msgmax" || k == "kernel.msgmnb" || k == "kernel.msgmni" || k == "kernel.sem" ||
			k == "kernel.shmall" || k == "kernel.shmmax" || k == "kernel.shmmni" || k == "kernel.shm_rmid_forced" ||
			strings.HasPrefix(k, "fs.mqueue."):
			if ipcHost {
				ns = "ipc"
			}
		case strings.HasPrefix(k, "net."):
			if netHost {
				ns = "net"
			}
		case k == "kernel.domainname" || k == "kernel.hostname":
			if utsHost {
				ns = "uts"
			}
		default:
			return invalid("HostConfig.Sysctls", "sysctl %q is not allowed: it is not namespaced, so it would change the host", k)
		}
		if ns != "" {
			return invalid("HostConfig.Sysctls", "sysctl %q is not allowed in host %s namespace", k, ns)
		}
	}
	return nil
}

// sysctlExists tells whether the host's kernel has a sysctl (a variable:
// tests stand in for the host).
var sysctlExists = func(name string) bool {
	_, err := os.Stat("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	return err == nil
}

// runningInUserNS tells whether the engine itself runs in a user
// namespace (a variable for tests).
var runningInUserNS = userns.RunningInUserNS

// NetworkSysctls are dockerd's defaults for a network namespace of a
// container's own (not the host's, not another container's): a process
// without CAP_NET_BIND_SERVICE may bind a port below 1024 and, outside a
// user namespace (userNS: the container's; the engine's own is checked
// here), one without CAP_NET_RAW may ping. Each only when the host's
// kernel has it. The network manager writes them into the namespaces it
// makes (engined's userns-remap decides userNS there).
func NetworkSysctls(userNS bool) map[string]string {
	out := map[string]string{}
	if !userNS && !runningInUserNS() && sysctlExists("net.ipv4.ping_group_range") {
		out["net.ipv4.ping_group_range"] = "0 2147483647"
	}
	if sysctlExists("net.ipv4.ip_unprivileged_port_start") {
		out["net.ipv4.ip_unprivileged_port_start"] = "0"
	}
	return out
}

// containerSysctls are the sysctls init writes: NetworkSysctls for a
// network namespace of the container's own, then the user's, which win,
// less those the engine's namespace the container joins already has with
// the same value (Options.NetNSSysctls). The user's map is copied, not
// shared with the stored HostConfig.
func containerSysctls(s *specs.Spec, o Options, hc *container.HostConfig) map[string]string {
	out := map[string]string{}
	joined := false
	if m := hc.NetworkMode; !m.IsHost() && !m.IsContainer() {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace && ns.Path != "" && ns.Path == o.NetNSPath {
				joined = true
			}
		}
		userNS := len(o.UIDMappings) > 0 && !hc.UsernsMode.IsHost()
		maps.Copy(out, NetworkSysctls(userNS))
	}
	maps.Copy(out, hc.Sysctls)
	if joined {
		// What the namespace has already, the user's value included (under
		// --userns-remap init could not write it).
		for k, v := range o.NetNSSysctls {
			if out[k] == v {
				delete(out, k)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
