package containers

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/sys/mountinfo"

	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/errdefs"
)

// rootfsPropagation is the linux.rootfsPropagation the binds need, as
// dockerd chooses it: a shared bind only propagates back to the host when
// its source is a shared mount and the container's root is shared; a
// slave bind only receives the host's mounts when its source is shared
// or a slave. "" leaves the runtime's default (rslave). A source mount
// that cannot do what the bind asks is refused with dockerd's words.
func rootfsPropagation(mps []*volume.MountPoint) (string, error) {
	root := ""
	for _, mp := range mps {
		if mp.Type != mount.TypeBind {
			continue
		}
		switch mp.Propagation {
		case mount.PropagationShared, mount.PropagationRShared:
			if err := sourcePropagation(mp.Source, true); err != nil {
				return "", err
			}
			root = "shared"
		case mount.PropagationSlave, mount.PropagationRSlave:
			if err := sourcePropagation(mp.Source, false); err != nil {
				return "", err
			}
			if root == "" {
				root = "rslave"
			}
		}
	}
	return root, nil
}

// sourcePropagation checks that the mount holding src is shared (or, when
// !sharedOnly, a slave).
func sourcePropagation(src string, sharedOnly bool) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(src))
	if err != nil {
		return fmt.Errorf("read the mounts of bind source %s: %w", src, err)
	}
	var m *mountinfo.Info
	for _, c := range mounts {
		if m == nil || len(c.Mountpoint) >= len(m.Mountpoint) {
			m = c
		}
	}
	if m == nil {
		return fmt.Errorf("no mount holds bind source %s", src)
	}
	var shared, slave bool
	for _, o := range strings.Fields(m.Optional) {
		shared = shared || strings.HasPrefix(o, "shared:")
		slave = slave || strings.HasPrefix(o, "master:")
	}
	switch {
	case sharedOnly && !shared:
		return &msgError{msg: fmt.Sprintf("path %s is mounted on %s but it is not a shared mount", src, m.Mountpoint), class: errdefs.ErrInvalidArgument}
	case !sharedOnly && !shared && !slave:
		return &msgError{msg: fmt.Sprintf("path %s is mounted on %s but it is not a shared or slave mount", src, m.Mountpoint), class: errdefs.ErrInvalidArgument}
	}
	return nil
}
