package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/engine/oci"
)

// A container created with --ipc shareable gets its /dev/shm from a tmpfs
// the engine mounts on the host, as dockerd does: a container joining its
// IPC namespace binds the same tmpfs. The donor's own /dev/shm cannot be
// reached through /proc/PID/root, which lies in another mount namespace
// that the kernel will not bind from.

// shmPath is where a shareable container's /dev/shm lives on the host;
// "" for every other IPC mode.
func shmPath(dir string, hc *container.HostConfig) string {
	if hc == nil || !hc.IpcMode.IsShareable() {
		return ""
	}
	return filepath.Join(dir, "mounts", "shm")
}

// shmUp mounts a shareable container's /dev/shm before its start; one
// left mounted by an earlier run (or a crashed engine) is kept, with its
// content, as a restarted dockerd keeps it.
func (d *Daemon) shmUp(c *Container) error {
	c.mu.Lock()
	hc := c.HostConfig
	p := shmPath(c.dir, hc)
	c.mu.Unlock()
	if p == "" {
		return nil
	}
	if mounted(p) {
		return nil
	}
	if err := os.MkdirAll(p, 0o711); err != nil {
		return fmt.Errorf("/dev/shm: %w", err)
	}
	size := hc.ShmSize
	if size <= 0 {
		size = oci.DefaultShmSize
	}
	data := "mode=1777,size=" + strconv.FormatInt(size, 10)
	if d.remapped(hc) {
		uid, gid := d.remap.Root()
		data += ",uid=" + strconv.Itoa(uid) + ",gid=" + strconv.Itoa(gid)
	}
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("/dev/shm: mount tmpfs on %s: %w", p, err)
	}
	return nil
}

// shmDown unmounts it when the container stops or goes (and, at the
// engine's start, for containers found stopped).
func (d *Daemon) shmDown(c *Container) {
	c.mu.Lock()
	p := shmPath(c.dir, c.HostConfig)
	c.mu.Unlock()
	if p == "" || !mounted(p) {
		return
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
		d.log.Warn("unmount /dev/shm", "id", c.ID, "err", err)
	}
}

// mounted reports whether p is a mount point: its device differs from its
// parent's (a tmpfs always has a device of its own).
func mounted(p string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
