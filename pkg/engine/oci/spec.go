// Package oci turns a Docker container config and an image config into an
// OCI runtime spec (config.json) with docker's safe defaults.
package oci

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
)

// DefaultPath is the PATH set when neither the image nor the request sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is docker's default bounding/effective set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// MaskedPaths and ReadonlyPaths are docker's defaults.
var (
	MaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	ReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// Options is what the spec is made from.
type Options struct {
	ID     string
	Config *container.Config     // the create request's config
	Host   *container.HostConfig // may be nil
	Image  *ocispec.Image        // the image config; may be nil
	// Files the engine wrote for the container, bind-mounted read-write like
	// docker does ("" to skip).
	HostnamePath, HostsPath, ResolvConfPath string
}

// Command returns the process args: the request's Entrypoint replaces the
// image's (and then drops the image's Cmd), the request's Cmd replaces the
// image's Cmd.
func Command(cfg *container.Config, img *ocispec.ImageConfig) ([]string, error) {
	var entry, cmd []string
	if img != nil {
		entry, cmd = img.Entrypoint, img.Cmd
	}
	if len(cfg.Entrypoint) > 0 {
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

// User parses "uid[:gid]". Names need /etc/passwd of the image rootfs, which
// the engine does not read yet: they are rejected.
func User(s string) (specs.User, error) {
	if s == "" {
		return specs.User{}, nil
	}
	u, g, hasG := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return specs.User{}, fmt.Errorf("user %q: only numeric uid[:gid] is supported yet: %w", s, errdefs.ErrNotImplemented)
	}
	user := specs.User{UID: uint32(uid), GID: uint32(uid)}
	if !hasG {
		user.GID = 0
	}
	if hasG {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return specs.User{}, fmt.Errorf("user %q: only numeric uid[:gid] is supported yet: %w", s, errdefs.ErrNotImplemented)
		}
		user.GID = uint32(gid)
	}
	return user, nil
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

// Spec generates the runtime spec. The container gets new pid, ipc, uts,
// mount and network namespaces; the network namespace has only loopback
// (networking is not implemented yet).
func Spec(o Options) (*specs.Spec, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = &container.Config{}
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
	hostname := Hostname(cfg, o.ID)
	env := MergeEnv(imgEnv, cfg.Env)
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	env = MergeEnv(env, []string{"HOSTNAME=" + hostname})
	if cfg.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	user, err := User(userStr)
	if err != nil {
		return nil, err
	}
	caps := append([]string{}, DefaultCapabilities...)
	readonlyRoot := false
	privileged := false
	if o.Host != nil {
		readonlyRoot = o.Host.ReadonlyRootfs
		privileged = o.Host.Privileged
	}
	if privileged {
		return nil, fmt.Errorf("privileged containers: %w", errdefs.ErrNotImplemented)
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
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
			NoNewPrivileges: false,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: readonlyRoot},
		Hostname: hostname,
		Mounts:   defaultMounts(),
		Linux: &specs.Linux{
			CgroupsPath: "berth/" + o.ID,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
			MaskedPaths:   append([]string{}, MaskedPaths...),
			ReadonlyPaths: append([]string{}, ReadonlyPaths...),
			Resources: &specs.LinuxResources{
				Devices: defaultDeviceRules(),
			},
		},
	}
	if o.Host != nil {
		applyResources(s.Linux.Resources, &o.Host.Resources)
	}
	for _, f := range []struct{ dst, src string }{
		{"/etc/resolv.conf", o.ResolvConfPath},
		{"/etc/hostname", o.HostnamePath},
		{"/etc/hosts", o.HostsPath},
	} {
		if f.src == "" {
			continue
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate"}})
	}
	return s, nil
}

func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
}

// defaultDeviceRules denies every device but the ones docker allows: null,
// zero, full, random, urandom, tty, console, ptmx and the pty slaves (the
// runtime creates the nodes), and mknod of any character or block device.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	dev := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			r.Major = &major
		}
		if minor >= 0 {
			r.Minor = &minor
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev("c", -1, -1, "m"), dev("b", -1, -1, "m"),
		dev("c", 1, 3, "rwm"), dev("c", 1, 5, "rwm"), dev("c", 1, 7, "rwm"),
		dev("c", 1, 8, "rwm"), dev("c", 1, 9, "rwm"),
		dev("c", 5, 0, "rwm"), dev("c", 5, 1, "rwm"), dev("c", 5, 2, "rwm"),
		dev("c", 136, -1, "rwm"),
	}
}

// applyResources sets the cgroup limits docker's run flags give: -m
// (memory, and swap equal to it unless --memory-swap says otherwise, so an
// over-limit container is OOM-killed rather than swapped), --pids-limit,
// --cpu-shares, --cpus.
func applyResources(r *specs.LinuxResources, h *container.Resources) {
	if h.Memory > 0 {
		limit := h.Memory
		swap := h.MemorySwap
		if swap == 0 {
			swap = limit
		}
		r.Memory = &specs.LinuxMemory{Limit: &limit}
		if swap > 0 {
			r.Memory.Swap = &swap
		}
	}
	if h.PidsLimit != nil && *h.PidsLimit > 0 {
		limit := *h.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if h.CPUShares > 0 || h.NanoCPUs > 0 {
		r.CPU = &specs.LinuxCPU{}
		if h.CPUShares > 0 {
			shares := uint64(h.CPUShares)
			r.CPU.Shares = &shares
		}
		if h.NanoCPUs > 0 {
			period := uint64(100000)
			quota := h.NanoCPUs * int64(period) / 1e9
			r.CPU.Period, r.CPU.Quota = &period, &quota
		}
	}
}
