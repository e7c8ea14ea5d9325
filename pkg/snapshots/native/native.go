// Package native is the copying snapshotter, for filesystems where overlayfs
// does not mount (overlayfs itself, some network or FUSE filesystems): every
// active snapshot is a full copy of its parent's tree, mounted as a bind.
// Layers are applied straight onto such a copy, so whiteouts never appear:
// what a layer deletes is deleted.
//
// On disk (below the root it is opened on): metadata.db and
// snapshots/<id>/fs, a complete root filesystem for every committed and
// active snapshot (a view has an empty fs and binds its parent's).
package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/storage"
)

// Snapshotter is the copying snapshotter.
type Snapshotter struct {
	*storage.Store
}

var _ snapshots.Snapshotter = (*Snapshotter)(nil)

// New opens the snapshotter rooted at root.
func New(root string) (*Snapshotter, error) {
	st, err := storage.Open(root)
	if err != nil {
		return nil, err
	}
	return &Snapshotter{st}, nil
}

// Prepare copies the parent's tree (file data shared by reflink where the
// filesystem can) into the new snapshot.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]snapshots.Mount, error) {
	sn, err := s.Create(ctx, snapshots.KindActive, key, parent, labels, func(dir string, parents []string) error {
		fs := filepath.Join(dir, "fs")
		if len(parents) == 0 {
			return os.Mkdir(fs, 0o755)
		}
		return CopyTree(ctx, filepath.Join(parents[0], "fs"), fs)
	})
	if err != nil {
		return nil, err
	}
	return mounts(sn), nil
}

// View binds the parent's tree read-only: a committed snapshot never
// changes, so there is nothing to copy.
func (s *Snapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]snapshots.Mount, error) {
	sn, err := s.Create(ctx, snapshots.KindView, key, parent, labels, func(dir string, _ []string) error {
		return os.Mkdir(filepath.Join(dir, "fs"), 0o755)
	})
	if err != nil {
		return nil, err
	}
	return mounts(sn), nil
}

// ViewMounts returns the mounts of a view of the committed snapshot name,
// recording none.
func (s *Snapshotter) ViewMounts(ctx context.Context, name string) ([]snapshots.Mount, error) {
	sn, err := s.ViewOf(ctx, name)
	if err != nil {
		return nil, err
	}
	return mounts(sn), nil
}

// Mounts returns the mounts of an active snapshot or view.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshots.Mount, error) {
	sn, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if sn.Kind == snapshots.KindCommitted {
		return nil, fmt.Errorf("snapshot %q is committed: use View: %w", key, errdefs.ErrFailedPrecondition)
	}
	return mounts(sn), nil
}

func mounts(sn storage.Snapshot) []snapshots.Mount {
	if sn.Kind == snapshots.KindView {
		src := filepath.Join(sn.Dir, "fs")
		if len(sn.ParentDirs) > 0 {
			src = filepath.Join(sn.ParentDirs[0], "fs")
		}
		return []snapshots.Mount{{Type: "bind", Source: src, Options: []string{"ro", "rbind"}}}
	}
	return []snapshots.Mount{{Type: "bind", Source: filepath.Join(sn.Dir, "fs"), Options: []string{"rw", "rbind"}}}
}

// Commit freezes the active snapshot key as name. Its directory stays where
// it is: only the record changes, so nothing is copied.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	_, err := s.Store.Commit(ctx, name, key, labels)
	return err
}

// Usage counts the snapshot's own tree: for a copy, that is the whole root
// filesystem (blocks shared by reflink are counted in each).
func (s *Snapshotter) Usage(ctx context.Context, key string) (int64, int64, error) {
	sn, err := s.Get(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	return storage.Usage(filepath.Join(sn.Dir, "fs"))
}
