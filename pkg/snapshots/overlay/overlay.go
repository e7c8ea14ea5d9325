// Package overlay is the overlayfs snapshotter: a committed snapshot is one
// layer directory, an active one is an upper directory over its parents'.
//
// On disk (below the root it is opened on): metadata.db, and
// snapshots/<id>/fs (the layer, or an active snapshot's upperdir) and
// snapshots/<id>/work (overlay's workdir, active snapshots only).
package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/storage"
)

// maxLowerdir is what fits in mount(2)'s one-page option string with the
// upperdir, workdir and other options beside it. Longer chains are returned
// as one "lowerdir+=" option per layer, for fsconfig(2).
const maxLowerdir = 3800

// Snapshotter is the overlayfs snapshotter.
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
	// A crash between a commit's record and the removal of the work
	// directory (see Commit) leaves one behind.
	dirs, err := st.CommittedDirs()
	if err != nil {
		st.Close()
		return nil, err
	}
	for _, d := range dirs {
		if err := os.RemoveAll(filepath.Join(d, "work")); err != nil {
			st.Close()
			return nil, fmt.Errorf("overlay: %w", err)
		}
	}
	return &Snapshotter{st}, nil
}

// Supported tells whether an overlay with an upper layer mounts in dir's
// filesystem (it does not on overlayfs itself, and on some network and FUSE
// filesystems). It mounts one in a scratch directory below dir.
func Supported(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lower1", "lower2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "lower2", "f"), nil, 0o600); err != nil {
		return err
	}
	m := snapshots.Mount{Type: "overlay", Source: "overlay", Options: []string{"index=off",
		"lowerdir=" + filepath.Join(tmp, "lower1") + ":" + filepath.Join(tmp, "lower2"),
		"upperdir=" + filepath.Join(tmp, "upper"), "workdir=" + filepath.Join(tmp, "work")}}
	merged := filepath.Join(tmp, "merged")
	if err := m.Mount(merged); err != nil {
		return err
	}
	defer snapshots.Unmount(merged)
	// A mount that succeeds but cannot copy up or make whiteouts is no use.
	if err := os.Remove(filepath.Join(merged, "f")); err != nil {
		return fmt.Errorf("overlay whiteout: %w", err)
	}
	return nil
}

func fill(kind snapshots.Kind) func(string, []string) error {
	return func(dir string, _ []string) error {
		if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
			return err
		}
		if kind == snapshots.KindActive {
			return os.Mkdir(filepath.Join(dir, "work"), 0o700)
		}
		return nil
	}
}

// Prepare makes an active snapshot: an empty upper directory over the
// parent chain.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]snapshots.Mount, error) {
	sn, err := s.Create(ctx, snapshots.KindActive, key, parent, labels, fill(snapshots.KindActive))
	if err != nil {
		return nil, err
	}
	return mounts(sn), nil
}

// View makes a view: the parent chain as read-only lower layers.
func (s *Snapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]snapshots.Mount, error) {
	sn, err := s.Create(ctx, snapshots.KindView, key, parent, labels, fill(snapshots.KindView))
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

// mounts: active without parent → rw bind of its fs; view of one layer → ro
// bind; otherwise overlay, without upperdir for a view.
func mounts(sn storage.Snapshot) []snapshots.Mount {
	var lowers []string
	for _, d := range sn.ParentDirs {
		lowers = append(lowers, filepath.Join(d, "fs"))
	}
	if len(lowers) == 0 {
		opt := "rw"
		if sn.Kind == snapshots.KindView {
			opt = "ro"
		}
		return []snapshots.Mount{{Type: "bind", Source: filepath.Join(sn.Dir, "fs"), Options: []string{opt, "rbind"}}}
	}
	if sn.Kind == snapshots.KindView && len(lowers) == 1 {
		return []snapshots.Mount{{Type: "bind", Source: lowers[0], Options: []string{"ro", "rbind"}}}
	}
	opts := []string{"index=off"}
	if lower := strings.Join(lowers, ":"); len(lower) <= maxLowerdir {
		opts = append(opts, "lowerdir="+lower)
	} else {
		// Too long for mount(2)'s one page: one "lowerdir+" option per layer,
		// which MountAll passes to fsconfig(2) one by one (Linux 6.8+).
		for _, l := range lowers {
			opts = append(opts, "lowerdir+="+l)
		}
	}
	if sn.Kind == snapshots.KindView {
		return []snapshots.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
	}
	opts = append(opts, "upperdir="+filepath.Join(sn.Dir, "fs"), "workdir="+filepath.Join(sn.Dir, "work"))
	return []snapshots.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

// UpperDir returns the directory holding a snapshot's own files (an active
// snapshot's upperdir, a committed snapshot's layer).
func (s *Snapshotter) UpperDir(ctx context.Context, key string) (string, error) {
	sn, err := s.Get(ctx, key)
	if err != nil {
		return "", err
	}
	return filepath.Join(sn.Dir, "fs"), nil
}

// Commit turns the active snapshot key into the committed snapshot name.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	sn, err := s.Store.Commit(ctx, name, key, labels)
	if err != nil {
		return err
	}
	// The work dir is only needed while the snapshot is writable. overlayfs
	// leaves root-owned 000 dirs in it, which RemoveAll copes with as root.
	if err := os.RemoveAll(filepath.Join(sn.Dir, "work")); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("commit %q: %w", name, err)
	}
	return nil
}

// Usage counts the snapshot's own layer directory.
func (s *Snapshotter) Usage(ctx context.Context, key string) (int64, int64, error) {
	sn, err := s.Get(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	return storage.Usage(filepath.Join(sn.Dir, "fs"))
}
