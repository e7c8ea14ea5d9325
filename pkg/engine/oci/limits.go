package oci

import (
	"strings"

	"github.com/moby/moby/api/types/container"
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
