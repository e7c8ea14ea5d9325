package containers

import (
	"archive/tar"
	"fmt"
	"os"

	"github.com/berthd/berth/pkg/engine/userns"
	"github.com/moby/moby/api/types/container"
)

// WithUsernsRemap runs containers in a user namespace mapped to the
// daemon's subordinate ranges (engined --userns-remap).
func WithUsernsRemap(r *userns.Remap) Option { return func(d *Daemon) { d.remap = r } }

// remapped reports whether a container with hc runs in the remapped user
// namespace (all but --userns host).
func (d *Daemon) remapped(hc *container.HostConfig) bool {
	return d.remap != nil && (hc == nil || !hc.UsernsMode.IsHost())
}

// letRemappedRootIn gives the remapped root's group search access to dir
// (mode 0710): the runtime's init resolves the bind sources under it from
// inside the container's user namespace, where the host's root is nobody.
func (d *Daemon) letRemappedRootIn(dir string) error {
	if d.remap == nil {
		return nil
	}
	_, gid := d.remap.Root()
	if err := os.Chown(dir, -1, gid); err != nil {
		return fmt.Errorf("userns-remap: %w", err)
	}
	return nil
}

// chownToRemappedRoot gives files the engine made for a remapped container
// (its etc files, a -v source it created) to the container's root, as
// dockerd does, so that root in the container can write them.
func (d *Daemon) chownToRemappedRoot(hc *container.HostConfig, paths ...string) error {
	if !d.remapped(hc) {
		return nil
	}
	uid, gid := d.remap.Root()
	for _, p := range paths {
		if err := os.Lchown(p, uid, gid); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("userns-remap: %w", err)
		}
	}
	return nil
}

// shiftOwners maps the owners of the image content copied into a volume to
// the host ids the container sees them as (nil when not remapped).
func (d *Daemon) shiftOwners(hc *container.HostConfig) func(*tar.Header) error {
	if !d.remapped(hc) {
		return nil
	}
	return func(h *tar.Header) error {
		uid, gid, err := d.remap.ToHost(h.Uid, h.Gid)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		h.Uid, h.Gid = uid, gid
		return nil
	}
}
