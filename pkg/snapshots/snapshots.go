// Package snapshots is the overlayfs snapshotter.
//
// Vocabulary (containerd's): a "key" names an active snapshot, writable,
// made by Prepare on top of a committed parent (or of nothing); a "name"
// names a committed snapshot, read-only, made by Commit from an active one,
// and usable as a parent. A view is a read-only active snapshot made by View.
// An unpacked image layer is the committed snapshot named by its chain ID.
//
// On disk: ROOT/metadata.db (bbolt: per namespace, key -> record) and
// ROOT/snapshots/<id>/{fs,work}. Keys are per namespace; ids are global.
package snapshots

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
)

// Kind of a snapshot.
type Kind int

const (
	KindUnknown Kind = iota
	KindView
	KindActive
	KindCommitted
)

func (k Kind) String() string {
	return [...]string{"unknown", "view", "active", "committed"}[k]
}

// Info describes a snapshot.
type Info struct {
	Name    string // key or name
	Parent  string
	Kind    Kind
	Created time.Time
	Labels  map[string]string
}

// Mount is one mount making up a snapshot's filesystem.
type Mount struct {
	Type    string
	Source  string
	Options []string
}

type record struct {
	ID      uint64            `json:"id"`
	Kind    Kind              `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// maxLowerdir is what fits in mount(2)'s one-page option string with the
// upperdir, workdir and other options beside it. Longer chains are returned
// as one "lowerdir+=" option per layer, for fsconfig(2).
const maxLowerdir = 3800

// Snapshotter is an overlayfs snapshotter.
type Snapshotter struct {
	root string
	db   *bolt.DB
}

var bucketNS = []byte("ns")

// New opens the snapshotter rooted at root.
func New(root string) (*Snapshotter, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("snapshotter: %w", err)
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("snapshotter: open metadata: %w", err)
	}
	s := &Snapshotter{root: root, db: db}
	if err := s.cleanup(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the metadata database.
func (s *Snapshotter) Close() error { return s.db.Close() }

// cleanup removes snapshot directories no record points at (a crash between
// making the directory and committing the record, or the reverse on Remove).
func (s *Snapshotter) cleanup() error {
	ids := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS)
		if b == nil {
			return nil
		}
		return b.ForEachBucket(func(ns []byte) error {
			return b.Bucket(ns).ForEach(func(k, v []byte) error {
				var r record
				if json.Unmarshal(v, &r) == nil {
					ids[strconv.FormatUint(r.ID, 10)] = true
				}
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("snapshotter: %w", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "snapshots"))
	for _, e := range ents {
		if !ids[e.Name()] {
			os.RemoveAll(filepath.Join(s.root, "snapshots", e.Name()))
		}
	}
	return nil
}

func (s *Snapshotter) dir(id uint64) string {
	return filepath.Join(s.root, "snapshots", strconv.FormatUint(id, 10))
}

func nsBucket(tx *bolt.Tx, ctx context.Context, create bool) (*bolt.Bucket, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	if !create {
		b := tx.Bucket(bucketNS)
		if b == nil {
			return nil, nil
		}
		return b.Bucket([]byte(ns)), nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketNS)
	if err != nil {
		return nil, err
	}
	return b.CreateBucketIfNotExists([]byte(ns))
}

func get(b *bolt.Bucket, key string) (record, error) {
	var r record
	if b == nil {
		return r, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	v := b.Get([]byte(key))
	if v == nil {
		return r, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("snapshot %q: corrupt record: %w", key, err)
	}
	return r, nil
}

func put(b *bolt.Bucket, key string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

func validKey(key string) error {
	if key == "" || len(key) > 512 || strings.ContainsRune(key, 0) {
		return fmt.Errorf("snapshot key %q: %w", key, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Stat returns the info of a snapshot by key or name.
func (s *Snapshotter) Stat(ctx context.Context, key string) (Info, error) {
	var info Info
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		info = Info{Name: key, Parent: r.Parent, Kind: r.Kind, Created: r.Created, Labels: r.Labels}
		return nil
	})
	return info, err
}

// List returns every snapshot of the namespace.
func (s *Snapshotter) List(ctx context.Context) ([]Info, error) {
	var out []Info
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) == nil {
				out = append(out, Info{Name: string(k), Parent: r.Parent, Kind: r.Kind, Created: r.Created, Labels: r.Labels})
			}
			return nil
		})
	})
	return out, err
}

// Prepare makes an active snapshot key on top of the committed parent ("" for
// none) and returns its mounts.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return s.create(ctx, KindActive, key, parent, labels)
}

// View makes a read-only snapshot of the committed parent.
func (s *Snapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return s.create(ctx, KindView, key, parent, labels)
}

func (s *Snapshotter) create(ctx context.Context, kind Kind, key, parent string, labels map[string]string) ([]Mount, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	var mounts []Mount
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, true)
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) != nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		}
		if parent != "" {
			p, err := get(b, parent)
			if err != nil {
				return fmt.Errorf("parent: %w", err)
			}
			if p.Kind != KindCommitted {
				return fmt.Errorf("parent %q is %s, not committed: %w", parent, p.Kind, errdefs.ErrFailedPrecondition)
			}
		}
		root := tx.Bucket(bucketNS)
		id, err := root.NextSequence()
		if err != nil {
			return err
		}
		dir := s.dir(id)
		if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
			return err
		}
		if kind == KindActive {
			if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
				return err
			}
		}
		r := record{ID: id, Kind: kind, Parent: parent, Created: time.Now().UTC(), Labels: labels}
		if err := put(b, key, r); err != nil {
			os.RemoveAll(dir)
			return err
		}
		mounts, err = s.mounts(b, r)
		if err != nil {
			os.RemoveAll(dir)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s %q: %w", kind, key, err)
	}
	return mounts, nil
}

// Mounts returns the mounts of an active snapshot or view.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]Mount, error) {
	var mounts []Mount
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		if r.Kind == KindCommitted {
			return fmt.Errorf("snapshot %q is committed: use View: %w", key, errdefs.ErrFailedPrecondition)
		}
		mounts, err = s.mounts(b, r)
		return err
	})
	return mounts, err
}

// mounts computes the mounts of r from its parent chain.
func (s *Snapshotter) mounts(b *bolt.Bucket, r record) ([]Mount, error) {
	var lowers []string
	for p := r.Parent; p != ""; {
		pr, err := get(b, p)
		if err != nil {
			return nil, fmt.Errorf("parent chain: %w", err)
		}
		lowers = append(lowers, filepath.Join(s.dir(pr.ID), "fs"))
		p = pr.Parent
	}
	dir := s.dir(r.ID)
	if len(lowers) == 0 {
		opt := "rw"
		if r.Kind == KindView {
			opt = "ro"
		}
		return []Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{opt, "rbind"}}}, nil
	}
	if r.Kind == KindView && len(lowers) == 1 {
		return []Mount{{Type: "bind", Source: lowers[0], Options: []string{"ro", "rbind"}}}, nil
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
	if r.Kind == KindView {
		return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	}
	opts = append(opts, "upperdir="+filepath.Join(dir, "fs"), "workdir="+filepath.Join(dir, "work"))
	return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

// UpperDir returns the directory holding an active snapshot's own changes.
func (s *Snapshotter) UpperDir(ctx context.Context, key string) (string, error) {
	var dir string
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		dir = filepath.Join(s.dir(r.ID), "fs")
		return err
	})
	return dir, err
}

// Commit turns the active snapshot key into the committed snapshot name.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	if err := validKey(name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, true)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		if r.Kind != KindActive {
			return fmt.Errorf("snapshot %q is %s, not active: %w", key, r.Kind, errdefs.ErrFailedPrecondition)
		}
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
		}
		r.Kind = KindCommitted
		r.Created = time.Now().UTC()
		if labels != nil {
			r.Labels = labels
		}
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		return put(b, name, r)
	})
	if err != nil {
		return fmt.Errorf("commit %q as %q: %w", key, name, err)
	}
	// The work dir is only needed while the snapshot is writable.
	s.db.View(func(tx *bolt.Tx) error {
		b, _ := nsBucket(tx, ctx, false)
		if r, err := get(b, name); err == nil {
			os.RemoveAll(filepath.Join(s.dir(r.ID), "work"))
		}
		return nil
	})
	return nil
}

// Remove removes a snapshot; a snapshot with children cannot be removed.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var id uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		var child string
		b.ForEach(func(k, v []byte) error {
			var c record
			if child == "" && json.Unmarshal(v, &c) == nil && c.Parent == key {
				child = string(k)
			}
			return nil
		})
		if child != "" {
			return fmt.Errorf("snapshot %q has child %q: %w", key, child, errdefs.ErrFailedPrecondition)
		}
		id = r.ID
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	// After the commit: a crash here leaves a directory cleanup() removes.
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	return nil
}

// RemoveActiveLabeled removes, in every namespace, the active snapshots that
// carry label (and have no children): work a crash interrupted, such as an
// unpack. Call it before serving.
func (s *Snapshotter) RemoveActiveLabeled(label string) error {
	var ids []uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketNS)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(ns []byte) error {
			b := root.Bucket(ns)
			var del []string
			b.ForEach(func(k, v []byte) error {
				var r record
				if json.Unmarshal(v, &r) == nil && r.Kind == KindActive {
					if _, ok := r.Labels[label]; ok {
						del = append(del, string(k))
						ids = append(ids, r.ID)
					}
				}
				return nil
			})
			for _, k := range del {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("snapshotter cleanup: %w", err)
	}
	for _, id := range ids {
		os.RemoveAll(s.dir(id))
	}
	return nil
}
