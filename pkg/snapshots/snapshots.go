// Package snapshots defines the Snapshotter: the store of the filesystems
// that images and containers run on. Implementations live in their own
// packages (overlay: overlayfs layers; native: full copies, for filesystems
// where overlayfs does not work) and pass the same conformance suite
// (testsuite).
//
// Vocabulary (containerd's):
//
//   - a "key" names an active snapshot: writable, made by Prepare on top of
//     a committed parent (or of nothing), or a view: read-only, made by View;
//   - a "name" names a committed snapshot: read-only, made by Commit from an
//     active one, and the only kind that can be a parent.
//
// Keys and names share one namespace per tenant (pkg/namespaces, from the
// context). An unpacked image layer is the committed snapshot named by its
// chain ID. Unpacking a layer, for example:
//
//	mounts, _ := sn.Prepare(ctx, "extract-x", parentChainID, nil)
//	snapshots.MountAll(mounts, dir)  // or write into mounts[0].Source when it is a bind
//	archive.Apply(ctx, dir, layer, archive.Options{Whiteouts: archive.RemoveWhiteouts})
//	snapshots.Unmount(dir)
//	sn.Commit(ctx, chainID, "extract-x", nil)
//
// Running a container on an image:
//
//	mounts, _ := sn.Prepare(ctx, containerID, image.ChainID, nil)
//	snapshots.MountAll(mounts, bundle+"/rootfs")
//
// A snapshot's files are reached only through the mounts it returns: what a
// caller writes to them is the snapshot's content, and a committed snapshot
// never changes again.
package snapshots

import (
	"context"
	"time"
)

// Kind of a snapshot. The values are stored: never renumber.
type Kind int

const (
	KindUnknown Kind = iota
	KindView
	KindActive
	KindCommitted
)

func (k Kind) String() string {
	if k < 0 || int(k) > int(KindCommitted) {
		return "unknown"
	}
	return [...]string{"unknown", "view", "active", "committed"}[k]
}

// Info describes a snapshot.
type Info struct {
	Name    string // key or name
	Parent  string // committed parent, "" for none
	Kind    Kind
	Created time.Time
	Labels  map[string]string
}

// Mount is one mount making up a snapshot's filesystem, in mount(8)'s terms:
// Type "bind" (Options "ro"/"rw", "rbind") or "overlay" (lowerdir, upperdir,
// workdir, or one "lowerdir+=" per layer when they do not fit in one page).
// MountAll mounts them.
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// Snapshotter stores snapshots. Errors are errdefs classes: NotFound (no
// such key, or parent), AlreadyExists (key or name taken), FailedPrecondition
// (a parent that is not committed, Commit of a non-active snapshot, Remove of
// a snapshot with children, Mounts of a committed one), InvalidArgument (an
// empty or oversized key).
type Snapshotter interface {
	// Stat returns the info of the snapshot with this key or name.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns every snapshot of the context's namespace.
	List(ctx context.Context) ([]Info, error)
	// Prepare makes the active snapshot key on the committed parent ("" for
	// an empty one) and returns its mounts: writable, showing the parent's
	// files; writes stay in key.
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// View makes a read-only snapshot key of the committed parent. It cannot
	// be committed; it keeps its parent from removal like any child.
	View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// Mounts returns again the mounts of an active snapshot or a view.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// ViewMounts returns the read-only mounts a view of the committed
	// snapshot name would have, without recording a view: for a short read
	// by the snapshotter's owner, who keeps name from removal meanwhile
	// (a view costs two metadata writes). FailedPrecondition when name is
	// not committed.
	ViewMounts(ctx context.Context, name string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name
	// (key is gone afterwards). Nothing may have it mounted any more.
	// labels, when not nil, replace the snapshot's labels.
	Commit(ctx context.Context, name, key string, labels map[string]string) error
	// Remove removes a snapshot of any kind that has no children.
	Remove(ctx context.Context, key string) error
	// Usage is the disk space (bytes of blocks) and inodes the snapshot's
	// own files use, hardlinks counted once, its parents' not included.
	Usage(ctx context.Context, key string) (size, inodes int64, err error)

	// Namespaces lists the namespaces that have snapshots (garbage
	// collection marks across all of them).
	Namespaces() ([]string, error)
	// RemoveActiveLabeled removes, in every namespace, the active snapshots
	// carrying label: work a crash interrupted, such as an unpack. keep
	// (nil: none) spares those it returns true for, given the namespace,
	// the key and the label's value. Call it before anything uses the
	// snapshotter.
	RemoveActiveLabeled(label string, keep func(ns, key, value string) bool) error
	// Close releases the snapshotter's metadata.
	Close() error
}
