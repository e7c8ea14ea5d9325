package supervisor

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/native"
	"github.com/berthd/berth/pkg/snapshots/overlay"
)

// Snapshotter names (Config.Snapshotter, Introspection's snapshotter).
const (
	SnapshotterOverlay = "overlayfs"
	SnapshotterNative  = "native"
)

// openSnapshotter opens the snapshotter asked for ("" is overlayfs). Each has
// its own directory: their layouts differ, and images unpacked by one are
// unpacked again by the other when imported or pulled again. overlayfs is
// probed first in ROOT's filesystem; when it cannot mount there (ROOT on
// overlayfs, some FUSE or network filesystems) native is used instead, with
// a warning.
func openSnapshotter(root, name string, log *slog.Logger) (snapshots.Snapshotter, string, error) {
	switch name {
	case "", SnapshotterOverlay:
		dir := filepath.Join(root, "snapshots")
		if err := overlay.Supported(filepath.Join(root, "tmp")); err != nil {
			log.Warn("overlayfs does not work in the root's filesystem: using the copying snapshotter", "root", root, "error", err)
			return openSnapshotter(root, SnapshotterNative, log)
		}
		sn, err := overlay.New(dir)
		return sn, SnapshotterOverlay, err
	case SnapshotterNative:
		sn, err := native.New(filepath.Join(root, "snapshots.native"))
		return sn, SnapshotterNative, err
	}
	return nil, "", fmt.Errorf("snapshotter %q: want %s or %s: %w", name, SnapshotterOverlay, SnapshotterNative, errdefs.ErrInvalidArgument)
}
