package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// parentMountPrivate makes the mount holding rootfs private when it is
// shared, as runc does: pivot_root refuses a new root whose parent mount is
// shared, which it is when rootfsPropagation is "shared"/"rshared" (a CRI
// container with a bidirectional mount). Only this mount namespace's copy
// changes; the container's own mounts keep their propagation.
func parentMountPrivate(rootfs string) error {
	if abs, err := filepath.Abs(rootfs); err == nil {
		rootfs = abs
	}
	if real, err := filepath.EvalSymlinks(rootfs); err == nil {
		rootfs = real
	}
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var best *mountinfo.Info
	for _, m := range mounts {
		if m.Mountpoint == rootfs || strings.HasPrefix(rootfs, strings.TrimSuffix(m.Mountpoint, "/")+"/") {
			if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
				best = m
			}
		}
	}
	if best == nil || !strings.Contains(best.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", best.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make parent mount private", Path: best.Mountpoint, Err: err}
	}
	return nil
}
