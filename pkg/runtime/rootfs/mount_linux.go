package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options are what Setup needs besides the spec.
type Options struct {
	Rootfs  string // absolute host path of the rootfs
	NoPivot bool
	// CgroupPaths maps a v1 hierarchy name (e.g. "memory", "cpu,cpuacct") to the
	// container's cgroup dir on the host; used for "cgroup" mounts on v1 hosts.
	CgroupPaths map[string]string
	// CgroupV2 is the container's cgroup2 dir on the host, if any.
	CgroupV2 string
	UserNS   bool
	CgroupNS bool
	Warnf    func(format string, args ...any)
	// BeforePivot runs after all mounts are made, before pivot_root (the
	// createRuntime/prestart/createContainer hook point).
	BeforePivot func() error

	// rootFd is the rootfs (after its self bind mount), opened O_PATH:
	// mount targets are reopened from it with openat2(RESOLVE_IN_ROOT).
	rootFd  int
	hasRoot bool
}

// at returns a name for dest (a host path inside the rootfs) that the
// kernel resolves without leaving the rootfs: /proc/self/fd/N of dest
// reopened with openat2(RESOLVE_IN_ROOT), so a symlink swapped in after
// SecureJoin cannot redirect a mount out of it (CVE-2021-30465). done
// closes the fd.
func (o *Options) at(dest string) (name string, done func(), err error) {
	if !o.hasRoot {
		return dest, func() {}, nil
	}
	rel, err := filepath.Rel(o.Rootfs, dest)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", nil, fmt.Errorf("mount target %s is outside the rootfs", dest)
	}
	fd, err := unix.Openat2(o.rootFd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return "", nil, &os.PathError{Op: "open mount target", Path: dest, Err: err}
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}

// mount is mount(2) with the target resolved by at.
func (o *Options) mount(src, dest, fstype string, flags uintptr, data string) error {
	t, done, err := o.at(dest)
	if err != nil {
		return err
	}
	defer done()
	return unix.Mount(src, t, fstype, flags, data)
}

// remount is the package's remount with the target resolved by at.
func (o *Options) remount(dest string, flags uintptr) error {
	t, done, err := o.at(dest)
	if err != nil {
		return err
	}
	defer done()
	return remount(t, flags)
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

// Setup runs in the container's new mount namespace, before pivot_root; on
// return the process's root is the container rootfs.
func Setup(spec *specs.Spec, o Options) error {
	if o.Warnf == nil {
		o.Warnf = func(string, ...any) {}
	}
	prop, rootProp, err := rootPropagation(spec)
	if err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return &os.PathError{Op: "mount propagation", Path: "/", Err: err}
	}
	if err := privateParentMount(o.Rootfs); err != nil {
		return err
	}
	if err := unix.Mount(o.Rootfs, o.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "bind mount rootfs", Path: o.Rootfs, Err: err}
	}
	if fd, err := unix.Open(o.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		defer unix.Close(fd)
		// openat2 is Linux 5.6+; without it mounts go to the SecureJoin'ed path.
		if probe, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}); err == nil {
			unix.Close(probe)
			o.rootFd, o.hasRoot = fd, true
		}
	}
	devBound := false
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && isBind(m) {
			devBound = true
		}
		if err := mountOne(m, o); err != nil {
			return err
		}
	}
	if !devBound {
		if err := createDevices(spec, o); err != nil {
			return err
		}
		if err := devSymlinks(o.Rootfs); err != nil {
			return err
		}
	}
	if o.BeforePivot != nil {
		if err := o.BeforePivot(); err != nil {
			return err
		}
	}
	if err := pivot(o.Rootfs, o.NoPivot); err != nil {
		return err
	}
	// As runc: a missing working directory is made (root-owned, 0755)
	// while the root is still writable. After pivot_root "/" is the
	// container's root, so the path cannot lead out of it.
	if p := spec.Process; p != nil && p.Cwd != "" {
		if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
			return &os.PathError{Op: "create cwd", Path: p.Cwd, Err: err}
		}
	}
	if spec.Linux != nil {
		for _, p := range spec.Linux.ReadonlyPaths {
			if err := readonlyPath(p); err != nil {
				return err
			}
		}
		for _, p := range spec.Linux.MaskedPaths {
			if err := maskPath(p); err != nil {
				return err
			}
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			// Keep the flags the kernel locked (e.g. in a user namespace).
			var st unix.Statfs_t
			if unix.Statfs("/", &st) == nil {
				err = unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|uintptr(st.Flags), "")
			}
			if err != nil {
				return &os.PathError{Op: "remount rootfs read-only", Path: "/", Err: err}
			}
		}
	}
	// Last: a recursive "unbindable" would stop the binds above.
	if rootProp != 0 {
		if err := unix.Mount("", "/", "", rootProp, ""); err != nil {
			return &os.PathError{Op: "rootfsPropagation " + spec.Linux.RootfsPropagation, Path: "/", Err: err}
		}
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

func mountOne(m specs.Mount, o Options) error {
	if !filepath.IsAbs(m.Destination) {
		return fmt.Errorf("mount destination %q is not absolute", m.Destination)
	}
	dest, err := SecureJoin(o.Rootfs, m.Destination)
	if err != nil {
		return err
	}
	rset, rclr, opts := splitRecursive(m.Options)
	flags, prop, data := ParseMountOptions(opts)
	switch {
	case isBind(m):
		src := m.Source
		fi, err := os.Stat(src)
		if err != nil {
			return &os.PathError{Op: "bind mount source", Path: src, Err: err}
		}
		if err := createTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		if err := o.mount(src, dest, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return &os.PathError{Op: "bind mount " + src, Path: m.Destination, Err: err}
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := o.remount(dest, rest); err != nil {
				return &os.PathError{Op: "remount bind", Path: m.Destination, Err: err}
			}
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := createTarget(dest, true); err != nil {
			return err
		}
		if err := mountCgroup(dest, flags, o); err != nil {
			return fmt.Errorf("mount cgroup on %s: %w", m.Destination, err)
		}
	default:
		if err := createTarget(dest, true); err != nil {
			return err
		}
		if m.Type == "mqueue" || m.Type == "sysfs" {
			// In a user namespace, or without a net namespace, these may fail: bind from host.
			if err := o.mount(m.Source, dest, m.Type, flags, data); err != nil {
				if m.Type == "sysfs" {
					if err2 := o.mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, ""); err2 == nil {
						if flags&unix.MS_RDONLY != 0 {
							_ = o.remount(dest, flags)
						}
						break
					}
				}
				if m.Type == "mqueue" && o.UserNS {
					if o.mount("/dev/mqueue", dest, "", unix.MS_BIND, "") == nil {
						break
					}
				}
				return &os.PathError{Op: "mount " + m.Type, Path: m.Destination, Err: err}
			}
			break
		}
		if err := o.mount(m.Source, dest, m.Type, flags, data); err != nil {
			return &os.PathError{Op: "mount " + m.Type, Path: m.Destination, Err: err}
		}
	}
	if rset != 0 || rclr != 0 {
		if err := o.setRecursive(dest, rset, rclr); err != nil {
			return err
		}
	}
	for _, p := range prop {
		if err := o.mount("", dest, "", p, ""); err != nil {
			return &os.PathError{Op: "mount propagation", Path: m.Destination, Err: err}
		}
	}
	return nil
}

func remount(dest string, flags uintptr) error {
	err := unix.Mount("", dest, "", flags|unix.MS_BIND|unix.MS_REMOUNT, "")
	if err == nil {
		return nil
	}
	var st unix.Statfs_t
	if unix.Statfs(dest, &st) == nil {
		locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY)
		return unix.Mount("", dest, "", flags|locked|unix.MS_BIND|unix.MS_REMOUNT, "")
	}
	return err
}

func mountCgroup(dest string, flags uintptr, o Options) error {
	ro := flags & unix.MS_RDONLY
	if o.CgroupV2 != "" || len(o.CgroupPaths) == 0 {
		if o.CgroupNS {
			if err := o.mount("cgroup2", dest, "cgroup2", flags, ""); err == nil {
				return nil
			}
		}
		if o.CgroupV2 == "" {
			return nil
		}
		if err := o.mount(o.CgroupV2, dest, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		if ro != 0 {
			return o.remount(dest, flags)
		}
		return nil
	}
	// v1: a tmpfs holding one bind mount of the container's own cgroup per hierarchy.
	if err := o.mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	for name, host := range o.CgroupPaths {
		sub := filepath.Join(dest, name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := o.mount(host, sub, "", unix.MS_BIND, ""); err != nil {
			return &os.PathError{Op: "bind cgroup", Path: host, Err: err}
		}
		if err := o.remount(sub, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro); err != nil {
			return err
		}
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				_ = os.Symlink(name, filepath.Join(dest, c))
			}
		}
	}
	if ro != 0 {
		return o.remount(dest, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro)
	}
	return nil
}

func createTarget(dest string, dir bool) error {
	if fi, err := os.Lstat(dest); err == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("mount target %s is a symlink", dest)
		}
		return nil
	}
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

func createDevices(spec *specs.Spec, o Options) error {
	devs := append([]specs.LinuxDevice(nil), defaultDevices...)
	if spec.Linux != nil {
		devs = append(devs, spec.Linux.Devices...)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		dest, err := SecureJoin(o.Rootfs, d.Path)
		if err != nil {
			return err
		}
		if !IsInside(filepath.Join(o.Rootfs, "dev"), dest) {
			return fmt.Errorf("device %s is outside /dev", d.Path)
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		if o.UserNS {
			if err := createTarget(dest, false); err != nil {
				return err
			}
			if err := o.mount(d.Path, dest, "", unix.MS_BIND, ""); err != nil {
				return &os.PathError{Op: "bind device", Path: d.Path, Err: err}
			}
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
		_ = os.Remove(dest)
		if err := unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := unix.Lchown(dest, uid, gid); err != nil {
			return &os.PathError{Op: "chown device", Path: d.Path, Err: err}
		}
	}
	return nil
}

func devSymlinks(rootfs string) error {
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
		{"/proc/kcore", "/dev/core"},
	}
	dev := filepath.Join(rootfs, "dev")
	if _, err := os.Stat(filepath.Join(dev, "pts/ptmx")); err == nil {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
		_ = os.Remove(filepath.Join(dev, "ptmx"))
	}
	for _, l := range links {
		dst := filepath.Join(rootfs, l[1])
		if err := os.Symlink(l[0], dst); err != nil && !errors.Is(err, os.ErrExist) {
			return &os.PathError{Op: "symlink", Path: l[1], Err: err}
		}
	}
	if err := os.MkdirAll(filepath.Join(dev, "shm"), 0o1777); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

func pivot(rootfs string, noPivot bool) error {
	if noPivot {
		if err := unix.Chdir(rootfs); err != nil {
			return err
		}
		if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
			return &os.PathError{Op: "move rootfs", Path: rootfs, Err: err}
		}
		if err := unix.Chroot("."); err != nil {
			return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
		}
		return unix.Chdir("/")
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: rootfs, Err: err}
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The old root is stacked under the new one: detach it without letting the
	// unmount propagate back to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make old root rslave", Path: "/", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount old root", Path: "/", Err: err}
	}
	return unix.Chdir("/")
}

func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "bind readonly path", Path: p, Err: err}
	}
	if err := remount(p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return &os.PathError{Op: "remount readonly path", Path: p, Err: err}
	}
	return nil
}

func maskPath(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	} else {
		err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "mask path", Path: p, Err: err}
	}
	return nil
}
