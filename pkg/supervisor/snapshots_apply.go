package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Apply extracts the streamed tar into an active snapshot, its layer
// only: unlike Containers.ExtractToDir (docker cp: the container's view,
// its volumes on top) a path under a volume lands in the snapshot, as a
// build step's COPY must. What the tar writes lands where the container
// will see it, through symlinked parents of the lower layers too, and
// overlay records the copy-ups a later Diff reports.
func (ss *snapshotsService) Apply(stream pb.Snapshots_ApplyServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	key := first.GetKey()
	if key == "" {
		return fmt.Errorf("apply: key is required: %w", errdefs.ErrInvalidArgument)
	}
	ss.s.gcMu.RLock()
	defer ss.s.gcMu.RUnlock()
	info, err := ss.s.snaps.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("apply to snapshot %s: %w", key, err)
	}
	if info.Kind != snapshots.KindActive {
		return fmt.Errorf("apply to snapshot %s: it is %s, not active: %w", key, info.Kind, errdefs.ErrFailedPrecondition)
	}
	ms, err := ss.s.snaps.Mounts(ctx, key)
	if err != nil {
		return fmt.Errorf("apply to snapshot %s: %w", key, err)
	}
	dir, err := os.MkdirTemp("", "berth-apply")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(first.GetData()); err != nil {
			return
		}
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(m.GetData()); err != nil {
				return
			}
		}
	}()
	var res archive.Result
	// Mounted in a private mount namespace that dies with the call, as
	// docker cp's views are: nothing stays mounted, also after a crash.
	err = inMountNamespace(func() error {
		if err := snapshots.MountAll(ms, dir); err != nil {
			if errors.Is(err, unix.EBUSY) {
				err = fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
			}
			return fmt.Errorf("mount: %w", err)
		}
		var err error
		res, err = archive.Apply(ctx, dir, pr, archive.Options{Whiteouts: archive.KeepWhiteouts})
		return err
	})
	pr.CloseWithError(errors.New("apply ended"))
	if err != nil {
		return fmt.Errorf("apply to snapshot %s: %w", key, err)
	}
	return stream.SendAndClose(&pb.ApplySnapshotResponse{Size: res.Size})
}
