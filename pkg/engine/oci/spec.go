// Package oci turns a Docker container config and an image config into an
// OCI runtime spec (config.json) with docker's safe defaults.
package oci

import (
	"fmt"
	"path"
	"strings"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"

	"github.com/berthd/berth/pkg/specdefaults"
)

// DefaultPath is the PATH set when neither the image nor the request sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options is what the spec is made from.
type Options struct {
	ID     string
	Config *container.Config     // the create request's config
	Host   *container.HostConfig // may be nil
	Image  *ocispec.Image        // the image config; may be nil
	// Files the engine wrote for the container, bind-mounted read-write like
	// docker does ("" to skip).
	HostnamePath, HostsPath, ResolvConfPath string
	// Peer finds the container a container:NAME mode names (pid, ipc,
	// network); nil refuses those modes.
	Peer func(ref string) (*Peer, error)
	// InitPath is the host's docker-init (a static tini), bind-mounted at
	// /sbin/docker-init for --init; "" when there is none.
	InitPath string
	// NetNSPath is the network namespace the engine holds for a container
	// on the default bridge or a user network (the runtime joins it by
	// path); "" gives such a container a namespace of its own with loopback
	// only.
	NetNSPath string
	// NetNSSysctls are the sysctls the engine wrote in the namespace at
	// NetNSPath when it made it (network.Manager.NetNSSysctls): init does
	// not write those again (under --userns-remap it could not).
	NetNSSysctls map[string]string
	// SystemdCgroup gives the container a systemd cgroupsPath
	// (slice:berth:ID) for a runtime run with --systemd-cgroup.
	SystemdCgroup bool
	// ShmPath is the host tmpfs bound at /dev/shm of a container created
	// with --ipc shareable (the engine mounts it), so that others can join.
	ShmPath string
	// HostCaps is every capability the host can grant (privileged, and
	// --cap-add ALL); nil asks the engine's own process.
	HostCaps []string
	// Mounts are the container's binds, volumes and tmpfs mounts (made by
	// the engine); one on a default mount's destination (/dev/shm,
	// /etc/hosts...) replaces it.
	Mounts []specs.Mount
	// Accounts resolve the user (user.go).
	Accounts Accounts
	// UIDMappings and GIDMappings are the daemon's --userns-remap: a
	// container not in the host's user namespace (--userns host) gets a
	// user namespace of its own with them. None: the host's.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// System is what the host supports, as the supervisor reports it.
	System System
}

// System is what the host supports that a spec depends on, from the
// supervisor's Introspection.Host: engined reads no cgroup mount itself.
type System struct {
	// CgroupV2: a container gets a private cgroup namespace by default.
	CgroupV2 bool
	// CPURealtime: the kernel has the real-time group scheduler.
	CPURealtime bool
}

// Peer is another container whose namespaces a container joins.
type Peer struct {
	ID  string
	Pid int // its running init; 0 when it is not running
	// IpcShareable: its IPC namespace and /dev/shm may be joined (dockerd
	// asks the donor to be created with --ipc shareable, or host).
	IpcShareable bool
	IpcHost      bool
	// ShmPath is its shareable /dev/shm on the host.
	ShmPath string
}

// InitDestination is where the init binary is mounted, as dockerd does.
const InitDestination = "/sbin/docker-init"

// Command returns the process args: the request's Entrypoint replaces the
// image's (and then drops the image's Cmd), the request's Cmd replaces the
// image's Cmd.
func Command(cfg *container.Config, img *ocispec.ImageConfig) ([]string, error) {
	var entry, cmd []string
	if img != nil {
		entry, cmd = img.Entrypoint, img.Cmd
	}
	if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
		// The docker CLI's --entrypoint "" sends [""]: a reset, as dockerd
		// reads it.
		entry, cmd = nil, nil
	} else if len(cfg.Entrypoint) > 0 {
		entry = cfg.Entrypoint
		cmd = nil
	} else if cfg.Entrypoint != nil {
		// An explicit empty entrypoint (--entrypoint "") resets the image's.
		entry = nil
		cmd = nil
	}
	if len(cfg.Cmd) > 0 {
		cmd = cfg.Cmd
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// MergeEnv returns the image's environment overridden by the request's, in
// order, keeping the first position of each key.
func MergeEnv(image, request []string) []string {
	var out []string
	idx := map[string]int{}
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range image {
		add(kv)
	}
	for _, kv := range request {
		add(kv)
	}
	return out
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// Hostname is the request's hostname or the first 12 characters of the id.
func Hostname(cfg *container.Config, id string) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Spec generates the runtime spec from the request with docker's defaults.
// Every option is applied or refused: the caller runs Check first (the
// options refused as a whole and the conflicts between them); the value
// checks are here.
func Spec(o Options) (*specs.Spec, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	hc := o.Host
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if err := ValidateResources(&hc.Resources, o.System); err != nil {
		return nil, err
	}
	sec, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	var imgCfg *ocispec.ImageConfig
	if o.Image != nil {
		imgCfg = &o.Image.Config
	}
	args, err := Command(cfg, imgCfg)
	if err != nil {
		return nil, err
	}
	var imgEnv []string
	userStr, cwd := cfg.User, cfg.WorkingDir
	if imgCfg != nil {
		imgEnv = imgCfg.Env
		if userStr == "" {
			userStr = imgCfg.User
		}
		if cwd == "" {
			cwd = imgCfg.WorkingDir
		}
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, invalid("Config.WorkingDir", "the working directory '%s' is invalid, it needs to be an absolute path", cwd)
	}
	hostname := Hostname(cfg, o.ID)
	env := MergeEnv(imgEnv, cfg.Env)
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	env = MergeEnv(env, []string{"HOSTNAME=" + hostname})
	if cfg.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	var groupAdd []string
	if o.Host != nil {
		groupAdd = o.Host.GroupAdd
	}
	user, err := ResolveUser(userStr, groupAdd, o.Accounts)
	if err != nil {
		return nil, err
	}
	if hc.Umask != nil {
		if *hc.Umask > 0o777 {
			return nil, invalid("HostConfig.Umask", "invalid umask %#o", *hc.Umask)
		}
		m := *hc.Umask
		user.Umask = &m
	}
	hostCaps := o.HostCaps
	if hostCaps == nil {
		hostCaps = specdefaults.HostCapabilities()
	}
	var capSet []string
	if hc.Privileged {
		capSet = append([]string{}, hostCaps...)
	} else if capSet, err = Capabilities(specdefaults.Capabilities, hc.CapAdd, hc.CapDrop, hostCaps); err != nil {
		return nil, err
	}
	if hc.Init != nil && *hc.Init {
		if o.InitPath == "" {
			return nil, invalid("HostConfig.Init", "docker-init binary not found: install tini (its static build) or start engined with --init-path")
		}
		args = append([]string{InitDestination, "--"}, args...)
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, invalid("HostConfig.OomScoreAdj", "Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}

	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: cfg.Tty,
			User:     user,
			Args:     args,
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  capSet,
				Effective: capSet,
				Permitted: capSet,
			},
			NoNewPrivileges: sec.noNewPrivileges,
		},
		Root:        &specs.Root{Path: "rootfs", Readonly: hc.ReadonlyRootfs},
		Hostname:    hostname,
		Domainname:  cfg.Domainname,
		Mounts:      specdefaults.Mounts(hc.Privileged || sec.writableCgroups, hc.Privileged),
		Annotations: hc.Annotations,
		Linux: &specs.Linux{
			CgroupsPath: "berth/" + o.ID,
			Resources:   &specs.LinuxResources{Devices: specdefaults.DeviceRules()},
		},
	}
	if cs := hc.ConsoleSize; cfg.Tty && cs[0] > 0 && cs[1] > 0 {
		// The client's terminal size from the start (docker run -t sends
		// it); the resize after start sets it again anyway.
		s.Process.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	if hc.OomScoreAdj != 0 {
		v := hc.OomScoreAdj
		s.Process.OOMScoreAdj = &v
	}
	applyUlimits(s.Process, hc.Ulimits)
	if s.Linux.CgroupsPath, err = cgroupsPath(o.ID, hc.CgroupParent, o.SystemdCgroup); err != nil {
		return nil, err
	}
	if err := applyNamespaces(s, o, hc); err != nil {
		return nil, err
	}
	if err := checkSysctls(hc.Sysctls, hc.IpcMode.IsHost(), hc.NetworkMode.IsHost(), hc.UTSMode.IsHost()); err != nil {
		return nil, err
	}
	s.Linux.Sysctl = containerSysctls(s, o, hc)
	if err := applyResources(s.Linux.Resources, &hc.Resources); err != nil {
		return nil, err
	}
	if hc.Privileged {
		s.Linux.Devices = specdefaults.PrivilegedDevices()
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	if err := applyDevices(s, &hc.Resources); err != nil {
		return nil, err
	}
	switch {
	case hc.Privileged || sec.unconfinedPaths:
	default:
		s.Linux.MaskedPaths = specdefaults.MaskedPaths()
		if hc.MaskedPaths != nil {
			s.Linux.MaskedPaths = append([]string{}, hc.MaskedPaths...)
		}
		s.Linux.ReadonlyPaths = specdefaults.ReadonlyPaths()
		if hc.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = append([]string{}, hc.ReadonlyPaths...)
		}
	}
	if err := applySeccomp(s, sec.seccomp, hc.Privileged); err != nil {
		return nil, err
	}
	s.Mounts = overrideMounts(s.Mounts, o.Mounts)
	if hc.Init != nil && *hc.Init {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitDestination, Type: "bind", Source: o.InitPath, Options: []string{"bind", "ro"}})
	}
	for _, f := range []struct{ dst, src string }{
		{"/etc/resolv.conf", o.ResolvConfPath},
		{"/etc/hostname", o.HostnamePath},
		{"/etc/hosts", o.HostsPath},
	} {
		if f.src == "" || hasMount(o.Mounts, f.dst) {
			continue
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate"}})
	}
	return s, nil
}

// overrideMounts appends the user's mounts, dropping a default one they
// cover, as dockerd does (a tmpfs on /dev/shm replaces docker's).
func overrideMounts(defaults, user []specs.Mount) []specs.Mount {
	var out []specs.Mount
	for _, m := range defaults {
		if !hasMount(user, m.Destination) {
			out = append(out, m)
		}
	}
	return append(out, user...)
}

func hasMount(ms []specs.Mount, dst string) bool {
	for _, m := range ms {
		if path.Clean(m.Destination) == path.Clean(dst) {
			return true
		}
	}
	return false
}
