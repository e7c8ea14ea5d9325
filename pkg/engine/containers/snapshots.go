package containers

import (
	"context"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// SnapshotMounter is the optional part of the supervisor API that container
// inspect reads for GraphDriver: the mounts of a container's rootfs
// snapshot (key = container id). A supervisor without it gets the
// snapshotter's name only.
type SnapshotMounter interface {
	SnapshotMounts(ctx context.Context, key string) ([]*supervisorv1.Mount, error)
}

var _ SnapshotMounter = (*Remote)(nil)

func (r *Remote) SnapshotMounts(ctx context.Context, key string) ([]*supervisorv1.Mount, error) {
	resp, err := r.C.SnapshotService().Mounts(ctx, &supervisorv1.MountsRequest{Key: key})
	if err != nil {
		return nil, err
	}
	return resp.GetMounts(), nil
}
