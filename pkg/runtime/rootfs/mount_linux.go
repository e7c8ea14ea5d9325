// Package rootfs plans a container's root filesystem: the mounts, devices,
// masked and read-only paths and the pivot_root that the container's init
// (cmd/runtime-init) carries out inside its new mount namespace. Paths in
// the container are resolved there, inside the rootfs (openat2
// RESOLVE_IN_ROOT), when each operation runs.
package rootfs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berthd/berth/pkg/runtime/initplan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options are what Plan needs besides the spec.
type Options struct {
	Rootfs  string // absolute host path of the rootfs
	NoPivot bool
	// CgroupPaths maps a v1 hierarchy name (e.g. "memory", "cpu,cpuacct") to the
	// container's cgroup dir on the host; used for "cgroup" mounts on v1 hosts.
	CgroupPaths map[string]string
	// CgroupV2 is the container's cgroup2 dir on the host, if any.
	CgroupV2 string
	// BeforeCgroup, if set, adds what must precede the first cgroup
	// mount (init's wait for its cgroups, its cgroup namespace).
	BeforeCgroup func(*initplan.Plan)
	UserNS       bool
	CgroupNS     bool
	// BeforePivot adds what runs after all mounts are made, before
	// pivot_root (the createRuntime/prestart/createContainer hook point).
	BeforePivot func(p *initplan.Plan) error
}

type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// ParseMountOptions splits OCI mount options into mount flags, propagation
// flags and the data string passed to the filesystem.
func ParseMountOptions(opts []string) (flags uintptr, prop []uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			prop = append(prop, p)
			continue
		}
		d = append(d, o)
	}
	return flags, prop, strings.Join(d, ",")
}

const inRoot = initplan.InRoot

// orElse marks an operation followed by n operations to run instead when
// it fails.
func orElse(n int) initplan.Flag { return initplan.OrElse | initplan.Flag(n<<8) }

// Plan adds to p the set-up of the rootfs in the container's new mount
// namespace, up to pivot_root and what follows it; once carried out, the
// process's root is the container rootfs.
func Plan(p *initplan.Plan, spec *specs.Spec, o Options) error {
	prop, rootProp, err := rootPropagation(spec)
	if err != nil {
		return err
	}
	p.Add(initplan.Mount, 0, "", "/", "", prop, "", "mount propagation", "/")
	// pivot_root refuses a new root whose parent mount is shared, and the
	// rootfs bind below would propagate to that mount's peers.
	p.Add(initplan.PrivateParent, 0, o.Rootfs)
	p.Add(initplan.Mount, 0, o.Rootfs, o.Rootfs, "", unix.MS_BIND|unix.MS_REC, "", "bind mount rootfs", o.Rootfs)
	p.Add(initplan.SetRoot, 0, o.Rootfs)
	devBound := false
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && isBind(m) {
			devBound = true
		}
		if err := planMount(p, m, o); err != nil {
			return err
		}
	}
	if !devBound {
		if err := planDevices(p, spec, o); err != nil {
			return err
		}
		planDevSymlinks(p)
	}
	if o.BeforePivot != nil {
		if err := o.BeforePivot(p); err != nil {
			return err
		}
	}
	p.Add(initplan.Pivot, 0, o.Rootfs, o.NoPivot)
	// As runc: a missing working directory is made (root-owned, 0755)
	// while the root is still writable. After pivot_root "/" is the
	// container's root, so the path cannot lead out of it.
	if pr := spec.Process; pr != nil && pr.Cwd != "" {
		p.Add(initplan.MkdirAll, 0, pr.Cwd, 0o755)
	}
	if spec.Linux != nil {
		for _, rp := range spec.Linux.ReadonlyPaths {
			p.Add(initplan.ReadonlyPath, 0, rp)
		}
		for _, mp := range spec.Linux.MaskedPaths {
			p.Add(initplan.MaskPath, 0, mp)
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		p.Add(initplan.RootReadonly, 0)
	}
	// Last: a recursive "unbindable" would stop the binds above.
	if rootProp != 0 {
		p.Add(initplan.Mount, 0, "", "/", "", rootProp, "", "rootfsPropagation "+spec.Linux.RootfsPropagation, "/")
	}
	return nil
}

// PlanChroot makes the rootfs the root of a container without a mount
// namespace of its own (the spec lets it share the caller's). Nothing is
// mounted: a mount would land in the caller's namespace and outlive the
// container (runc makes them there and leaves them behind), so the config
// check refuses mounts, masked and read-only paths and linux.devices for
// such a container. pivot_root would move the caller's root as well, so the
// root changes with chroot(2), as runc does here.
func PlanChroot(p *initplan.Plan, spec *specs.Spec, o Options) error {
	if o.BeforePivot != nil {
		if err := o.BeforePivot(p); err != nil {
			return err
		}
	}
	p.Add(initplan.Chroot, 0, o.Rootfs)
	if pr := spec.Process; pr != nil && pr.Cwd != "" {
		p.Add(initplan.MkdirAll, 0, pr.Cwd, 0o755)
	}
	return nil
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func planMount(p *initplan.Plan, m specs.Mount, o Options) error {
	if !filepath.IsAbs(m.Destination) {
		return fmt.Errorf("mount destination %q is not absolute", m.Destination)
	}
	dest := path.Clean(m.Destination)
	rset, rclr, opts := splitRecursive(m.Options)
	flags, prop, data := ParseMountOptions(opts)
	switch {
	case isBind(m):
		src := m.Source
		fi, err := os.Stat(src)
		if err != nil {
			return &os.PathError{Op: "bind mount source", Path: src, Err: err}
		}
		p.Add(initplan.MkTarget, inRoot, dest, fi.IsDir())
		p.Add(initplan.Mount, inRoot, src, dest, "", flags&(unix.MS_BIND|unix.MS_REC), "", "bind mount "+src, m.Destination)
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			p.Add(initplan.Remount, inRoot, dest, rest, "remount bind", m.Destination)
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if o.BeforeCgroup != nil {
			o.BeforeCgroup(p)
		}
		p.Add(initplan.MkTarget, inRoot, dest, true)
		planCgroup(p, dest, m.Destination, flags, o)
	default:
		p.Add(initplan.MkTarget, inRoot, dest, true)
		what := "mount " + m.Type
		switch {
		case m.Type == "sysfs":
			// Without a network namespace of its own (or in a user
			// namespace) sysfs may be refused: bind the host's.
			alt := 1
			if flags&unix.MS_RDONLY != 0 {
				alt = 2
			}
			p.Add(initplan.Mount, inRoot|orElse(alt), m.Source, dest, m.Type, flags, data, what, m.Destination)
			p.Add(initplan.Mount, inRoot, "/sys", dest, "", unix.MS_BIND|unix.MS_REC, "", what, m.Destination)
			if alt == 2 {
				p.Add(initplan.Remount, inRoot|initplan.BestEffort, dest, flags, "remount", m.Destination)
			}
		case m.Type == "mqueue" && o.UserNS:
			p.Add(initplan.Mount, inRoot|orElse(1), m.Source, dest, m.Type, flags, data, what, m.Destination)
			p.Add(initplan.Mount, inRoot, "/dev/mqueue", dest, "", unix.MS_BIND, "", what, m.Destination)
		default:
			p.Add(initplan.Mount, inRoot, m.Source, dest, m.Type, flags, data, what, m.Destination)
		}
	}
	if rset != 0 || rclr != 0 {
		p.Add(initplan.SetAttr, inRoot, dest, rset, rclr, m.Destination)
	}
	for _, pf := range prop {
		p.Add(initplan.Mount, inRoot, "", dest, "", pf, "", "mount propagation", m.Destination)
	}
	return nil
}

func planCgroup(p *initplan.Plan, dest, shown string, flags uintptr, o Options) {
	ro := flags & unix.MS_RDONLY
	what := "mount cgroup on"
	if o.CgroupV2 != "" || len(o.CgroupPaths) == 0 {
		var bind []func()
		if o.CgroupV2 != "" {
			bind = append(bind, func() {
				p.Add(initplan.Mount, inRoot, o.CgroupV2, dest, "", unix.MS_BIND, "", what, shown)
			})
			if ro != 0 {
				bind = append(bind, func() { p.Add(initplan.Remount, inRoot, dest, flags, what, shown) })
			}
		}
		if o.CgroupNS {
			// Its own cgroup2 in its own cgroup namespace; else the bind.
			f := inRoot | initplan.BestEffort
			if len(bind) > 0 {
				f = inRoot | orElse(len(bind))
			}
			p.Add(initplan.Mount, f, "cgroup2", dest, "cgroup2", flags, "", what, shown)
		}
		for _, b := range bind {
			b()
		}
		return
	}
	// v1: a tmpfs holding one bind mount of the container's own cgroup per hierarchy.
	p.Add(initplan.Mount, inRoot, "tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755", what, shown)
	names := make([]string, 0, len(o.CgroupPaths))
	for name := range o.CgroupPaths {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		host := o.CgroupPaths[name]
		sub := path.Join(dest, name)
		p.Add(initplan.MkdirAll, inRoot, sub, 0o755)
		p.Add(initplan.Mount, inRoot, host, sub, "", unix.MS_BIND, "", "bind cgroup", host)
		p.Add(initplan.Remount, inRoot, sub, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro, "remount cgroup", host)
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				p.Add(initplan.Symlink, inRoot|initplan.BestEffort, name, path.Join(dest, c))
			}
		}
	}
	if ro != 0 {
		p.Add(initplan.Remount, inRoot, dest, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro, what, shown)
	}
}

var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

func planDevices(p *initplan.Plan, spec *specs.Spec, o Options) error {
	devs := append([]specs.LinuxDevice(nil), defaultDevices...)
	if spec.Linux != nil {
		devs = append(devs, spec.Linux.Devices...)
	}
	for _, d := range devs {
		clean := path.Clean("/" + d.Path)
		rel, ok := strings.CutPrefix(clean, "/dev/")
		if !ok || rel == "" {
			return fmt.Errorf("device %s is outside /dev", d.Path)
		}
		if o.UserNS {
			p.Add(initplan.MkTarget, inRoot, clean, false)
			p.Add(initplan.Mount, inRoot, d.Path, clean, "", unix.MS_BIND, "", "bind device", d.Path)
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(d.FileMode.Perm())
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		var uid, gid uint32
		if d.UID != nil {
			uid = *d.UID
		}
		if d.GID != nil {
			gid = *d.GID
		}
		p.Add(initplan.Mknod, 0, rel, mode, unix.Mkdev(uint32(d.Major), uint32(d.Minor)), uid, gid)
	}
	return nil
}

func planDevSymlinks(p *initplan.Plan) {
	for _, l := range [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
		{"/proc/kcore", "/dev/core"},
	} {
		p.Add(initplan.Symlink, inRoot, l[0], l[1])
	}
	p.Add(initplan.Ptmx, 0)
	p.Add(initplan.MkdirAll, inRoot, "/dev/shm", 0o1777)
}
