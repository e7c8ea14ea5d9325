package cri

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/specdefaults"
)

// pausePath is where the pause binary is bind-mounted in the sandbox's
// otherwise empty rootfs.
const pausePath = "/pause"

// cgroupsPath is below the kubelet's cgroup parent (with the cgroupfs
// driver an absolute path such as /kubepods/besteffort/pod<uid>, which the
// kubelet makes and limits to the pod's resources and overhead), from the
// hierarchies' roots: the pod's limits and the kubelet's accounting hold
// for its containers. Without a parent the path is relative, so the runtime
// puts the cgroups below supervisord's own.
func cgroupsPath(parent, id string) (string, error) {
	if parent == "" {
		return "berth-cri/" + id, nil
	}
	if strings.Contains(parent, "..") || strings.Contains(parent, ":") {
		return "", invalidf("linux.cgroup_parent", "%q: want a cgroupfs path without ..", parent)
	}
	p := path.Clean("/" + parent)
	if p == "/" {
		return "berth-cri/" + id, nil
	}
	return p + "/" + id, nil
}

// validateSandbox refuses what a pod config asks that berth cannot do,
// naming the field, before anything is made.
func validateSandbox(cfg *runtimeapi.PodSandboxConfig) error {
	md := cfg.GetMetadata()
	if md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "" {
		return invalidf("metadata", "name, namespace and uid are required")
	}
	if cfg.GetWindows() != nil {
		return unsupportedf("windows", "this is a Linux runtime")
	}
	sc := cfg.GetLinux().GetSecurityContext()
	ns := sc.GetNamespaceOptions()
	if ns.GetUsernsOptions() != nil && ns.GetUsernsOptions().GetMode() != runtimeapi.NamespaceMode_NODE {
		return unsupportedf("linux.security_context.namespace_options.userns_options", "user namespaces are not supported")
	}
	if ns.GetPid() == runtimeapi.NamespaceMode_TARGET {
		return invalidf("linux.security_context.namespace_options.pid", "TARGET is for containers, not pods")
	}
	if ns.GetNetwork() == runtimeapi.NamespaceMode_CONTAINER || ns.GetNetwork() == runtimeapi.NamespaceMode_TARGET {
		return invalidf("linux.security_context.namespace_options.network", "a pod's network is POD or NODE")
	}
	if ns.GetIpc() == runtimeapi.NamespaceMode_CONTAINER || ns.GetIpc() == runtimeapi.NamespaceMode_TARGET {
		return invalidf("linux.security_context.namespace_options.ipc", "a pod's IPC is POD or NODE")
	}
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil {
		return invalidf("linux.security_context.run_as_group", "needs run_as_user")
	}
	if err := checkSELinux("linux.security_context.selinux_options", sc.GetSelinuxOptions()); err != nil {
		return err
	}
	if err := checkAppArmor("linux.security_context.apparmor", sc.GetApparmor(), ""); err != nil {
		return err
	}
	for k := range cfg.GetLinux().GetSysctls() {
		if k == "" || strings.ContainsAny(k, " =") {
			return invalidf("linux.sysctls", "bad name %q", k)
		}
	}
	return nil
}

// sandboxSpec is the pause container's spec: an empty read-only rootfs
// with the pause binary, in new PID, IPC, UTS and mount namespaces (those
// the pod shares with its containers, unless the host's are asked for)
// and the pod's network namespace; no capabilities at all.
func (s *Server) sandboxSpec(id, netnsPath string, cfg *runtimeapi.PodSandboxConfig) ([]byte, error) {
	lc := cfg.GetLinux()
	sc := lc.GetSecurityContext()
	ns := sc.GetNamespaceOptions()
	cg, err := cgroupsPath(lc.GetCgroupParent(), id)
	if err != nil {
		return nil, err
	}
	u := specs.User{}
	if v := sc.GetRunAsUser(); v != nil {
		u.UID = uint32(v.GetValue())
	}
	if v := sc.GetRunAsGroup(); v != nil {
		u.GID = uint32(v.GetValue())
	}
	for _, g := range sc.GetSupplementalGroups() {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	mounts := append(specdefaults.Mounts(false, false), specs.Mount{
		Destination: pausePath, Type: "bind", Source: s.cfg.PauseBinary, Options: []string{"rbind", "ro", "nosuid", "nodev"},
	})
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{pausePath}, Cwd: "/", User: u,
			Env:             []string{"PATH=/"},
			Capabilities:    &specs.LinuxCapabilities{},
			NoNewPrivileges: true,
			OOMScoreAdj:     clampOOMScoreAdj(-998),
		},
		Root:        &specs.Root{Path: "rootfs", Readonly: true},
		Mounts:      mounts,
		Annotations: cfg.GetAnnotations(),
		Linux: &specs.Linux{
			CgroupsPath:   cg,
			Sysctl:        lc.GetSysctls(),
			Resources:     &specs.LinuxResources{Devices: specdefaults.DeviceRules()},
			MaskedPaths:   specdefaults.MaskedPaths(),
			ReadonlyPaths: specdefaults.ReadonlyPaths(),
			Namespaces:    []specs.LinuxNamespace{{Type: specs.MountNamespace}},
		},
	}
	if ns.GetPid() != runtimeapi.NamespaceMode_NODE {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if ns.GetIpc() != runtimeapi.NamespaceMode_NODE {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	if ns.GetNetwork() != runtimeapi.NamespaceMode_NODE {
		// The host's network comes with the host's name (the kubelet's
		// convention); otherwise the pod has its own.
		spec.Hostname = cfg.GetHostname()
		spec.Linux.Namespaces = append(spec.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UTSNamespace},
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath})
	}
	if sc.GetPrivileged() {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	} else {
		if spec.Linux.Seccomp, err = seccompProfile("linux.security_context.seccomp", sc.GetSeccomp(), sc.GetSeccompProfilePath(), spec); err != nil {
			return nil, err
		}
	}
	return json.Marshal(spec)
}

// podFiles are the files a pod's containers get at /etc/hostname,
// /etc/hosts and /etc/resolv.conf.
func podFiles(cfg *runtimeapi.PodSandboxConfig, hostHosts, hostResolv []byte) (hostname, hosts, resolv []byte, err error) {
	hn := cfg.GetHostname()
	hostNet := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
	if hostNet {
		hosts = hostHosts
	} else {
		h := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if hn != "" {
			h += "127.0.1.1\t" + hn + "\n"
		}
		hosts = []byte(h)
	}
	if hn != "" {
		hostname = []byte(hn + "\n")
	}
	dns := cfg.GetDnsConfig()
	if dns == nil {
		return hostname, hosts, hostResolv, nil
	}
	var b strings.Builder
	if len(dns.GetSearches()) > 0 {
		if len(dns.GetSearches()) > 32 {
			return nil, nil, nil, invalidf("dns_config.searches", "more than 32 domains")
		}
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
	}
	for _, sv := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", sv)
	}
	if len(dns.GetOptions()) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
	}
	return hostname, hosts, []byte(b.String()), nil
}
