package supervisor

import (
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
)

// idMapping is the user namespace mapping of a container's IDs to the
// host's; the zero value is the host's own namespace.
type idMapping struct{ uids, gids []snapshots.IDMap }

func (m idMapping) remapped() bool { return len(m.uids) > 0 }

func mapID(ms []snapshots.IDMap, id int, toHost bool) (int, bool) {
	for _, r := range ms {
		from, to := int64(r.Host), int64(r.Container)
		if toHost {
			from, to = to, from
		}
		if int64(id) >= from && int64(id) < from+int64(r.Size) {
			return int(to + int64(id) - from), true
		}
	}
	return 0, false
}

// toHost turns a container's owner into the host's; an ID outside the
// mapping has no host ID to be written as.
func (m idMapping) toHost(uid, gid int) (int, int, error) {
	hu, ok1 := mapID(m.uids, uid, true)
	hg, ok2 := mapID(m.gids, gid, true)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("owner %d:%d is outside the container's user namespace mapping: %w", uid, gid, errdefs.ErrInvalidArgument)
	}
	return hu, hg, nil
}

// toContainer turns a host owner into the container's; one outside the
// mapping is the overflow ID, as the kernel shows it inside.
func (m idMapping) toContainer(uid, gid int) (int, int) {
	cu, ok := mapID(m.uids, uid, false)
	if !ok {
		cu = 65534
	}
	cg, ok := mapID(m.gids, gid, false)
	if !ok {
		cg = 65534
	}
	return cu, cg
}

// asRoot runs fn as the container's root (see snapshots.AsMappedRoot):
// writes through its ID-mapped rootfs need a caller the mapping knows.
func (m idMapping) asRoot(fn func() error) error {
	uid, gid, err := m.toHost(0, 0)
	if err != nil {
		return err
	}
	return snapshots.AsMappedRoot(uint32(uid), uint32(gid), fn)
}
