package snapshots

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// MountAll mounts mounts on target, in order.
func MountAll(mounts []Mount, target string) error {
	for i, m := range mounts {
		if err := m.Mount(target); err != nil {
			for j := i - 1; j >= 0; j-- {
				Unmount(target)
			}
			return err
		}
	}
	return nil
}

// Mount mounts m on target.
func (m Mount) Mount(target string) error {
	opts, uids, gids, err := splitIDMap(m.Options)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
	}
	if uids != nil {
		return m.mountIDMapped(target, opts, uids, gids)
	}
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		default:
			data = append(data, o)
		}
	}
	ro := flags&unix.MS_RDONLY != 0
	for _, o := range data {
		if strings.HasPrefix(o, "lowerdir+=") {
			return m.fsconfigMount(target, data, ro)
		}
	}
	if m.Type != "bind" && flags&unix.MS_BIND == 0 {
		if err := unix.Mount(m.Source, target, m.Type, flags, strings.Join(data, ",")); err != nil {
			return fmt.Errorf("mount %s on %s (%s): %w", m.Type, target, strings.Join(m.Options, ","), err)
		}
		return nil
	}
	flags = (flags | unix.MS_BIND) &^ unix.MS_RDONLY
	if err := unix.Mount(m.Source, target, "", flags, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", m.Source, target, err)
	}
	// A bind mount only becomes read-only on a remount.
	if ro {
		if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// Unmount unmounts target, lazily when it is busy. Not mounted is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue // stacked mounts: unmount until none is left
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", target, err)
			}
			continue
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// fsconfigMount mounts with the new mount API, one option per fsconfig(2)
// call: the way to pass more lower layers than fit in one page.
func (m Mount) fsconfigMount(target string, options []string, ro bool) error {
	mfd, err := m.fsmountFD(options, ro)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return moveMount(mfd, m.Type, target)
}

func moveMount(mfd int, typ, target string) error {
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move mount %s to %s: %w", typ, target, err)
	}
	return nil
}

// fsmountFD makes the filesystem and returns its detached mount.
func (m Mount) fsmountFD(options []string, ro bool) (int, error) {
	fsfd, err := unix.Fsopen(m.Type, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", m.Type, err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", m.Source); err != nil {
		return -1, fmt.Errorf("fsconfig source: %w", err)
	}
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		if v == "" && !strings.Contains(o, "=") {
			err = unix.FsconfigSetFlag(fsfd, k)
		} else {
			err = unix.FsconfigSetString(fsfd, k, v)
		}
		if err != nil {
			return -1, fmt.Errorf("fsconfig %s %s (lowerdir+ needs Linux 6.8): %w", m.Type, o, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig create %s: %w", m.Type, err)
	}
	var attr int
	if ro {
		attr = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", m.Type, err)
	}
	return mfd, nil
}
