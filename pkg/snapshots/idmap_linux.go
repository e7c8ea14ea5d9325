package snapshots

import (
	"errors"
	"fmt"

	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// IDMap is one range of an ID mapping: container IDs [Container,
// Container+Size) are host IDs [Host, Host+Size).
type IDMap struct {
	Container, Host, Size uint32
}

// The mount options that ask for an ID-mapped filesystem: each a list of
// CONTAINER:HOST:SIZE ranges separated by ";". A container in a user
// namespace sees its image's files owned by its own root only if the
// layers are seen through its mapping: the files stay owned by 0 on disk
// (shared with every other container and image) and its root, host uid
// HOST, reads and writes them as uid 0.
const (
	uidmapOpt = "uidmap="
	gidmapOpt = "gidmap="
)

// WithIDMap returns mounts asking to be mounted through the given user
// namespace mappings (see MountAll).
func WithIDMap(mounts []Mount, uids, gids []IDMap) []Mount {
	if len(uids) == 0 && len(gids) == 0 {
		return mounts
	}
	out := make([]Mount, len(mounts))
	for i, m := range mounts {
		m.Options = append(append([]string(nil), m.Options...), uidmapOpt+formatIDMap(uids), gidmapOpt+formatIDMap(gids))
		out[i] = m
	}
	return out
}

func formatIDMap(ms []IDMap) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "%d:%d:%d", m.Container, m.Host, m.Size)
	}
	return b.String()
}

func parseIDMap(s string) ([]IDMap, error) {
	var out []IDMap
	for _, r := range strings.Split(s, ";") {
		f := strings.Split(r, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("id mapping %q: want CONTAINER:HOST:SIZE", r)
		}
		var n [3]uint32
		for i, x := range f {
			v, err := strconv.ParseUint(x, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id mapping %q: %w", r, err)
			}
			n[i] = uint32(v)
		}
		if n[2] == 0 {
			return nil, fmt.Errorf("id mapping %q: empty range", r)
		}
		out = append(out, IDMap{n[0], n[1], n[2]})
	}
	return out, nil
}

// splitIDMap takes the uidmap/gidmap options out of options.
func splitIDMap(options []string) (rest []string, uids, gids []IDMap, err error) {
	for _, o := range options {
		switch {
		case strings.HasPrefix(o, uidmapOpt):
			uids, err = parseIDMap(strings.TrimPrefix(o, uidmapOpt))
		case strings.HasPrefix(o, gidmapOpt):
			gids, err = parseIDMap(strings.TrimPrefix(o, gidmapOpt))
		default:
			rest = append(rest, o)
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	if (uids == nil) != (gids == nil) {
		return nil, nil, nil, errors.New("uidmap and gidmap go together")
	}
	return rest, uids, gids, nil
}

// usernsFD returns an fd of a new user namespace with the given mappings,
// what mount_setattr(2) takes to ID-map a mount. The namespace is made by
// a child that is stopped by ptrace as soon as it has exec'd, so it never
// runs: the namespace outlives it through the fd.
func usernsFD(uids, gids []IDMap) (int, error) {
	toSys := func(ms []IDMap) []syscall.SysProcIDMap {
		out := make([]syscall.SysProcIDMap, len(ms))
		for i, m := range ms {
			out[i] = syscall.SysProcIDMap{ContainerID: int(m.Container), HostID: int(m.Host), Size: int(m.Size)}
		}
		return out
	}
	// ptrace binds the tracee to the thread that forked it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"berth-userns"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER, UidMappings: toSys(uids), GidMappings: toSys(gids),
		Ptrace: true, Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("make user namespace: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open user namespace: %w", err)
	}
	return fd, nil
}

// idmappedClone returns a detached copy of the mount at path (with its
// submounts if recursive), ID-mapped through userns and read-only if ro.
func idmappedClone(path string, userns int, recursive, ro bool) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	setFlags := 0
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, uint(flags))
	if err != nil {
		return -1, fmt.Errorf("clone %s: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", uint(unix.AT_EMPTY_PATH|setFlags), &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("id-map %s (needs a filesystem that supports ID-mapped mounts): %w", path, err)
	}
	return fd, nil
}

// mountIDMapped mounts m on target with every directory it is made of
// seen through the mappings: an overlay's lower, upper and work
// directories (overlayfs takes ID-mapped layers since Linux 5.19), or a
// bind mount's source.
func (m Mount) mountIDMapped(target string, options []string, uids, gids []IDMap) error {
	userns, err := usernsFD(uids, gids)
	if err != nil {
		return err
	}
	defer unix.Close(userns)
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	clone := func(path string) (string, error) {
		fd, err := idmappedClone(path, userns, false, false)
		if err != nil {
			return "", err
		}
		fds = append(fds, fd)
		return "/proc/self/fd/" + strconv.Itoa(fd), nil
	}
	if m.Type == "bind" || m.Type == "" {
		ro, rec := false, false
		for _, o := range options {
			ro = ro || o == "ro"
			rec = rec || o == "rbind"
		}
		fd, err := idmappedClone(m.Source, userns, rec, ro)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("move id-mapped %s to %s: %w", m.Source, target, err)
		}
		return nil
	}
	if m.Type != "overlay" {
		return fmt.Errorf("mount %s on %s: ID mapping is supported for overlay and bind mounts only", m.Type, target)
	}
	var out []string
	var upper, work string
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				p, err := clone(l)
				if err != nil {
					return err
				}
				out = append(out, "lowerdir+="+p)
			}
		case "lowerdir+":
			p, err := clone(v)
			if err != nil {
				return err
			}
			out = append(out, "lowerdir+="+p)
		case "upperdir":
			upper = v
		case "workdir":
			work = v
		default:
			out = append(out, o)
		}
	}
	if upper != "" {
		// upper and work must be on one mount: map their common parent.
		if filepath.Dir(upper) != filepath.Dir(work) {
			return fmt.Errorf("mount overlay on %s: upperdir and workdir are not siblings", target)
		}
		p, err := clone(filepath.Dir(upper))
		if err != nil {
			return err
		}
		out = append(out, "upperdir="+filepath.Join(p, filepath.Base(upper)), "workdir="+filepath.Join(p, filepath.Base(work)))
	}
	ro := false
	var data []string
	for _, o := range out {
		if o == "ro" {
			ro = true
		} else if o != "rw" {
			data = append(data, o)
		}
	}
	host := func(ms []IDMap) (uint32, error) {
		for _, r := range ms {
			if r.Container == 0 {
				return r.Host, nil
			}
		}
		return 0, fmt.Errorf("mount overlay on %s: the mapping has no root", target)
	}
	uid, err := host(uids)
	if err != nil {
		return err
	}
	gid, err := host(gids)
	if err != nil {
		return err
	}
	// overlayfs does its own work (the work directory, copy-up) with the
	// mounter's credentials, through the mapped upper layer: they must be
	// the container's root, or they are not mapped there (EOVERFLOW). They
	// are taken when the superblock is made; the mount is attached here,
	// on the caller's thread, in the caller's mount namespace.
	var mfd int
	err = AsMappedRoot(uid, gid, func() error {
		var err error
		mfd, err = m.fsmountFD(data, ro)
		return err
	})
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return moveMount(mfd, m.Type, target)
}

// AsMappedRoot runs fn on a thread of its own whose filesystem ids are
// uid and gid (a user namespace's root: what writes through an ID-mapped
// mount need), with every capability the process has still in effect
// (setfsuid clears the file capabilities; they are raised again). The
// thread is never reused: it ends with the goroutine.
func AsMappedRoot(uid, gid uint32, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		unix.Setfsgid(int(gid))
		unix.Setfsuid(int(uid))
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		for i := range data {
			data[i].Effective = data[i].Permitted
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
