package cri

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/specdefaults"
	"github.com/berthd/berth/pkg/sysinfo"
)

// ctrSpecInput is what a container's spec is made from.
type ctrSpecInput struct {
	id        string
	cfg       *runtimeapi.ContainerConfig
	pod       *runtimeapi.PodSandboxConfig
	podID     string
	netnsPath string // "" on the host's network
	pausePid  uint32
	targetPid uint32 // the pid of the TARGET container, when asked
	image     *ocispec.ImageConfig
	passwd    []byte // the image's /etc/passwd, nil if none
	group     []byte
	podDir    string
	// imageVolumes are the host paths of the image volumes by mount index
	// (image_volumes.go).
	imageVolumes map[int]string
}

// validateContainer refuses, naming the field, what berth cannot do.
func validateContainer(cfg *runtimeapi.ContainerConfig) error {
	if cfg.GetMetadata().GetName() == "" {
		return invalidf("metadata.name", "required")
	}
	if cfg.GetImage().GetImage() == "" {
		return invalidf("image.image", "required")
	}
	if cfg.GetWindows() != nil {
		return unsupportedf("windows", "this is a Linux runtime")
	}
	if len(cfg.GetCDIDevices()) > 0 {
		return unsupportedf("CDI_devices", "CDI is not supported")
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return invalidf("linux.security_context.run_as_group", "needs run_as_user or run_as_username")
	}
	if ns := sc.GetNamespaceOptions(); ns.GetUsernsOptions() != nil && ns.GetUsernsOptions().GetMode() != runtimeapi.NamespaceMode_NODE {
		return unsupportedf("linux.security_context.namespace_options.userns_options", "user namespaces are not supported")
	}
	if err := checkSELinux("linux.security_context.selinux_options", sc.GetSelinuxOptions()); err != nil {
		return err
	}
	if err := checkAppArmor("linux.security_context.apparmor", sc.GetApparmor(), sc.GetApparmorProfile()); err != nil {
		return err
	}
	if len(cfg.GetLinux().GetResources().GetUnified()) > 0 && !sysinfo.CgroupV2() {
		return unsupportedf("linux.resources.unified", "cgroup v2 only; this host has cgroup v1")
	}
	for i, m := range cfg.GetMounts() {
		f := fmt.Sprintf("mounts[%d]", i)
		if isImageVolume(m) {
			if err := validateImageVolume(f, m); err != nil {
				return err
			}
		}
		switch {
		case m.GetImageSubPath() != "" && !isImageVolume(m):
			return invalidf(f+".image_sub_path", "only for an image volume (image)")
		case len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0:
			return unsupportedf(f+".uidMappings", "ID-mapped mounts are not supported")
		case len(m.GetMountOptions()) > 0:
			return unsupportedf(f+".mount_options", "not supported")
		case m.GetContainerPath() == "" || !filepath.IsAbs(m.GetContainerPath()):
			return invalidf(f+".container_path", "%q is not absolute", m.GetContainerPath())
		case m.GetHostPath() == "" && !isImageVolume(m):
			return invalidf(f+".host_path", "required")
		case m.GetRecursiveReadOnly() && !m.GetReadonly():
			return invalidf(f+".recursive_read_only", "needs readonly")
		case m.GetRecursiveReadOnly() && m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
			return invalidf(f+".recursive_read_only", "needs private propagation")
		}
	}
	return nil
}

// command is the process's argv, the image's entrypoint and cmd replaced
// as Kubernetes does: command replaces the entrypoint (and drops the
// image's cmd), args replace the cmd.
func command(cfg *runtimeapi.ContainerConfig, img *ocispec.ImageConfig) ([]string, error) {
	var argv []string
	if len(cfg.GetCommand()) > 0 {
		argv = append(slices.Clone(cfg.GetCommand()), cfg.GetArgs()...)
	} else {
		argv = slices.Clone(img.Entrypoint)
		if len(cfg.GetArgs()) > 0 {
			argv = append(argv, cfg.GetArgs()...)
		} else {
			argv = append(argv, img.Cmd...)
		}
	}
	if len(argv) == 0 {
		return nil, invalidf("command", "no command given and the image has none")
	}
	return argv, nil
}

// env is the image's environment overridden by the config's.
func env(cfg *runtimeapi.ContainerConfig, img *ocispec.ImageConfig, hostname string) []string {
	out := slices.Clone(img.Env)
	set := func(k, v string) {
		for i, e := range out {
			if strings.SplitN(e, "=", 2)[0] == k {
				out[i] = k + "=" + v
				return
			}
		}
		out = append(out, k+"="+v)
	}
	if !slices.ContainsFunc(out, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if hostname != "" {
		set("HOSTNAME", hostname)
	}
	for _, kv := range cfg.GetEnvs() {
		set(kv.GetKey(), string(kv.GetValue()))
	}
	return out
}

// reader is nil (a nil interface, which the user library takes as "no
// file") for a missing file.
func reader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// processUser resolves the container's user: run_as_user or
// run_as_username (looked up in the image's /etc/passwd), else the
// image's USER; run_as_group or the user's primary group; the groups of
// the image's /etc/group listing the user (unless the policy is Strict)
// and the supplemental groups.
func processUser(sc *runtimeapi.LinuxContainerSecurityContext, in ctrSpecInput) (specs.User, error) {
	spec := in.image.User
	switch {
	case sc.GetRunAsUser() != nil:
		spec = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		spec = sc.GetRunAsUsername()
	}
	if g := sc.GetRunAsGroup(); g != nil {
		spec = strings.SplitN(spec, ":", 2)[0] + ":" + strconv.FormatInt(g.GetValue(), 10)
	}
	eu, err := user.GetExecUser(spec, nil, reader(in.passwd), reader(in.group))
	if err != nil {
		return specs.User{}, invalidf("linux.security_context.run_as_user", "user %q: %v", spec, err)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid), AdditionalGids: []uint32{uint32(eu.Gid)}}
	if sc.GetSupplementalGroupsPolicy() != runtimeapi.SupplementalGroupsPolicy_Strict {
		for _, g := range eu.Sgids {
			if !slices.Contains(u.AdditionalGids, uint32(g)) {
				u.AdditionalGids = append(u.AdditionalGids, uint32(g))
			}
		}
	}
	for _, g := range sc.GetSupplementalGroups() {
		if !slices.Contains(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// capabilities: docker's default set, or all the host grants when
// privileged; add and drop with "ALL" as the CRI defines it (drop ALL
// then add some keeps those).
func capabilities(sc *runtimeapi.LinuxContainerSecurityContext) (*specs.LinuxCapabilities, error) {
	host := specdefaults.HostCapabilities()
	set := slices.Clone(specdefaults.Capabilities)
	if sc.GetPrivileged() {
		set = host
	} else {
		c := sc.GetCapabilities()
		for _, d := range c.GetDropCapabilities() {
			if strings.EqualFold(d, "ALL") {
				set = nil
				continue
			}
			set = slices.DeleteFunc(set, func(x string) bool { return x == capName(d) })
		}
		for _, a := range c.GetAddCapabilities() {
			if strings.EqualFold(a, "ALL") {
				set = slices.Clone(host)
				continue
			}
			if !slices.Contains(host, capName(a)) {
				return nil, invalidf("linux.security_context.capabilities.add_capabilities", "%s is unknown or not available on this host", a)
			}
			if !slices.Contains(set, capName(a)) {
				set = append(set, capName(a))
			}
		}
	}
	caps := &specs.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set}
	for _, a := range sc.GetCapabilities().GetAddAmbientCapabilities() {
		n := capName(a)
		if !slices.Contains(set, n) {
			return nil, invalidf("linux.security_context.capabilities.add_ambient_capabilities", "%s is not in the container's set", a)
		}
		caps.Ambient = append(caps.Ambient, n)
		caps.Inheritable = append(caps.Inheritable, n)
	}
	return caps, nil
}

func propagation(p runtimeapi.MountPropagation) string {
	switch p {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		return "rslave"
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		return "rshared"
	}
	return "rprivate"
}

// mounts are the defaults, the pod's files and /dev/shm, then the
// config's binds (a host path that does not exist is made a directory, as
// the kubelet's hostPath volumes expect; a symlink is followed on the
// host, not in the container).
func mounts(in ctrSpecInput, readonlyRoot bool) ([]specs.Mount, error) {
	sc := in.cfg.GetLinux().GetSecurityContext()
	ms := specdefaults.Mounts(sc.GetPrivileged(), sc.GetPrivileged())
	taken := map[string]bool{}
	for _, m := range in.cfg.GetMounts() {
		taken[filepath.Clean(m.GetContainerPath())] = true
	}
	fileOpts := []string{"rbind", "rprivate", "rw"}
	if readonlyRoot {
		fileOpts[2] = "ro"
	}
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		if !taken["/etc/"+f] {
			ms = append(ms, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(in.podDir, f), Options: fileOpts})
		}
	}
	if !taken["/dev/shm"] {
		src := filepath.Join(in.podDir, "shm")
		if in.pod.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE ||
			sc.GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE {
			src = "/dev/shm"
		}
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "rw"}})
	}
	for i, m := range in.cfg.GetMounts() {
		if src, ok := in.imageVolumes[i]; ok {
			ms = append(ms, specs.Mount{Destination: filepath.Clean(m.GetContainerPath()), Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "ro"}})
			continue
		}
		f := fmt.Sprintf("mounts[%d].host_path", i)
		src := m.GetHostPath()
		if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, invalidf(f, "%v", err)
			}
		}
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return nil, invalidf(f, "%v", err)
		}
		opts := []string{"rbind", propagation(m.GetPropagation()), "rw"}
		if m.GetReadonly() {
			opts[2] = "ro"
		}
		if m.GetRecursiveReadOnly() {
			opts = append(opts, "rro") // the handler can (checkHandlerMounts)
		}
		ms = append(ms, specs.Mount{Destination: filepath.Clean(m.GetContainerPath()), Type: "bind", Source: real, Options: opts})
	}
	return ms, nil
}

func resources(r *runtimeapi.LinuxContainerResources) *specs.LinuxResources {
	out := &specs.LinuxResources{Devices: specdefaults.DeviceRules()}
	if r == nil {
		return out
	}
	cpu := &specs.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()}
	if v := r.GetCpuShares(); v > 0 {
		u := uint64(v)
		cpu.Shares = &u
	}
	if v := r.GetCpuQuota(); v != 0 {
		cpu.Quota = &v
	}
	if v := r.GetCpuPeriod(); v > 0 {
		u := uint64(v)
		cpu.Period = &u
	}
	out.CPU = cpu
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		out.Memory = &specs.LinuxMemory{Limit: &v}
		if sw := r.GetMemorySwapLimitInBytes(); sw > 0 {
			out.Memory.Swap = &sw
		}
	}
	for _, h := range r.GetHugepageLimits() {
		out.HugepageLimits = append(out.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.GetUnified()) > 0 {
		out.Unified = r.GetUnified()
	}
	return out
}

func nsPath(pid uint32, ns string) string { return fmt.Sprintf("/proc/%d/ns/%s", pid, ns) }

// containerSpec is the OCI spec of a container of a pod.
func containerSpec(in ctrSpecInput) ([]byte, error) {
	cfg := in.cfg
	sc := cfg.GetLinux().GetSecurityContext()
	argv, err := command(cfg, in.image)
	if err != nil {
		return nil, err
	}
	u, err := processUser(sc, in)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(sc)
	if err != nil {
		return nil, err
	}
	cg, err := cgroupsPath(in.pod.GetLinux().GetCgroupParent(), in.id)
	if err != nil {
		return nil, err
	}
	cwd := cfg.GetWorkingDir()
	if cwd == "" {
		cwd = in.image.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	ms, err := mounts(in, sc.GetReadonlyRootfs())
	if err != nil {
		return nil, err
	}
	hostname := in.pod.GetHostname()
	if in.netnsPath == "" {
		hostname, _ = os.Hostname()
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: argv, Env: env(cfg, in.image, hostname), Cwd: cwd, User: u, Terminal: cfg.GetTty(),
			Capabilities:    caps,
			NoNewPrivileges: sc.GetNoNewPrivs() && !sc.GetPrivileged(),
		},
		Root:        &specs.Root{Path: "rootfs", Readonly: sc.GetReadonlyRootfs()},
		Mounts:      ms,
		Annotations: cfg.GetAnnotations(),
		Linux: &specs.Linux{
			CgroupsPath:   cg,
			Resources:     resources(cfg.GetLinux().GetResources()),
			MaskedPaths:   specdefaults.MaskedPaths(),
			ReadonlyPaths: specdefaults.ReadonlyPaths(),
			Namespaces:    []specs.LinuxNamespace{{Type: specs.MountNamespace}},
		},
	}
	if r := cfg.GetLinux().GetResources(); r != nil {
		s.Process.OOMScoreAdj = clampOOMScoreAdj(int(r.GetOomScoreAdj()))
	}
	if sc.GetMaskedPaths() != nil {
		s.Linux.MaskedPaths = sc.GetMaskedPaths()
	}
	if sc.GetReadonlyPaths() != nil {
		s.Linux.ReadonlyPaths = sc.GetReadonlyPaths()
	}
	// A mount that propagates needs the container's root to propagate too
	// (the runtime's default is private).
	for _, m := range cfg.GetMounts() {
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			s.Linux.RootfsPropagation = "rshared"
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			if s.Linux.RootfsPropagation == "" {
				s.Linux.RootfsPropagation = "rslave"
			}
		}
	}
	ns := sc.GetNamespaceOptions()
	if in.netnsPath != "" && ns.GetNetwork() != runtimeapi.NamespaceMode_NODE {
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.netnsPath},
			specs.LinuxNamespace{Type: specs.UTSNamespace, Path: nsPath(in.pausePid, "uts")})
	}
	if ns.GetIpc() != runtimeapi.NamespaceMode_NODE {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: nsPath(in.pausePid, "ipc")})
	}
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: nsPath(in.pausePid, "pid")})
	case runtimeapi.NamespaceMode_CONTAINER:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case runtimeapi.NamespaceMode_TARGET:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: nsPath(in.targetPid, "pid")})
	}
	for i, d := range cfg.GetDevices() {
		perms := d.GetPermissions()
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return nil, invalidf(fmt.Sprintf("devices[%d].permissions", i), "%q: want a combination of r, w and m", perms)
		}
		dev, rule, err := specdefaults.HostDevice(d.GetHostPath(), d.GetContainerPath(), perms)
		if err != nil {
			return nil, invalidf(fmt.Sprintf("devices[%d].host_path", i), "%v", err)
		}
		s.Linux.Devices = append(s.Linux.Devices, dev)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	if sc.GetPrivileged() {
		if !in.pod.GetLinux().GetSecurityContext().GetPrivileged() {
			return nil, invalidf("linux.security_context.privileged", "the pod is not privileged")
		}
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.Devices = specdefaults.PrivilegedDevices()
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else if s.Linux.Seccomp, err = seccompProfile("linux.security_context.seccomp", sc.GetSeccomp(), sc.GetSeccompProfilePath(), s); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}
