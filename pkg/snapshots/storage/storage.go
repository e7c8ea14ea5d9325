// Package storage is the bookkeeping every snapshotter shares: which keys and
// names exist in which namespace, their kind and parent, and the directory
// of each (ROOT/snapshots/<id>). It knows nothing of how a snapshot's files
// are made or mounted; the overlay and native snapshotters do.
//
// On disk: ROOT/metadata.db (bbolt: ns/<namespace>/<key or name> -> record)
// and ROOT/snapshots/<id>/. Keys are per namespace; ids are global.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
)

// Snapshot is what a snapshotter needs to know of one snapshot.
type Snapshot struct {
	ID     uint64
	Kind   snapshots.Kind
	Parent string
	// Dir is ROOT/snapshots/<id>; the snapshotter decides what goes in it.
	Dir string
	// ParentDirs are the directories of the parent chain, nearest first.
	ParentDirs []string
}

type record struct {
	ID      uint64            `json:"id"`
	Kind    snapshots.Kind    `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Store is the metadata of one snapshotter's snapshots.
type Store struct {
	root string
	db   *bolt.DB
}

var bucketNS = []byte("ns")

// newPrefix names directories being filled before their record exists;
// Open removes those a crash left, as it removes any dir without a record.
const newPrefix = "new-"

// Open opens the store rooted at root and removes snapshot directories no
// record points at (a crash between making one and recording it, or the
// reverse on Remove).
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("snapshotter: %w", err)
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("snapshotter: open metadata: %w", err)
	}
	s := &Store{root: root, db: db}
	if err := s.cleanup(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the metadata database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) cleanup() error {
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

func (s *Store) dir(id uint64) string {
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

func (s *Store) snapshot(b *bolt.Bucket, r record) (Snapshot, error) {
	sn := Snapshot{ID: r.ID, Kind: r.Kind, Parent: r.Parent, Dir: s.dir(r.ID)}
	for p := r.Parent; p != ""; {
		pr, err := get(b, p)
		if err != nil {
			return sn, fmt.Errorf("parent chain: %w", err)
		}
		sn.ParentDirs = append(sn.ParentDirs, s.dir(pr.ID))
		p = pr.Parent
	}
	return sn, nil
}

// checkNew returns the parent's record when key is free and parent ("" for
// none) is committed.
func checkNew(b *bolt.Bucket, key, parent string) error {
	if b != nil && b.Get([]byte(key)) != nil {
		return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
	}
	if parent == "" {
		return nil
	}
	p, err := get(b, parent)
	if err != nil {
		return fmt.Errorf("parent: %w", err)
	}
	if p.Kind != snapshots.KindCommitted {
		return fmt.Errorf("parent %q is %s, not committed: %w", parent, p.Kind, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// Create records a new active snapshot or view. fill is called first, outside
// any transaction (a copying snapshotter may take long), with a fresh
// directory to fill and the new snapshot's parent chain; the directory then
// becomes the snapshot's Dir. A parent removed meanwhile fails the create.
func (s *Store) Create(ctx context.Context, kind snapshots.Kind, key, parent string, labels map[string]string, fill func(dir string, parentDirs []string) error) (Snapshot, error) {
	if err := validKey(key); err != nil {
		return Snapshot{}, err
	}
	var parentDirs []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		if err := checkNew(b, key, parent); err != nil {
			return err
		}
		sn, err := s.snapshot(b, record{Parent: parent})
		parentDirs = sn.ParentDirs
		return err
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s %q: %w", kind, key, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.root, "snapshots", newPrefix+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s %q: %w", kind, key, err)
	}
	if err := fill(tmp, parentDirs); err != nil {
		os.RemoveAll(tmp)
		return Snapshot{}, fmt.Errorf("snapshot %s %q: %w", kind, key, err)
	}
	var sn Snapshot
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, true)
		if err != nil {
			return err
		}
		if err := checkNew(b, key, parent); err != nil {
			return err
		}
		id, err := tx.Bucket(bucketNS).NextSequence()
		if err != nil {
			return err
		}
		r := record{ID: id, Kind: kind, Parent: parent, Created: time.Now().UTC(), Labels: labels}
		if sn, err = s.snapshot(b, r); err != nil {
			return err
		}
		if err := put(b, key, r); err != nil {
			return err
		}
		// Inside the transaction: if the rename fails, nothing is recorded;
		// and it is on disk before the record is (bbolt syncs at commit).
		if err := os.Rename(tmp, sn.Dir); err != nil {
			return err
		}
		return syncDir(filepath.Dir(sn.Dir))
	})
	if err != nil {
		os.RemoveAll(tmp)
		return Snapshot{}, fmt.Errorf("snapshot %s %q: %w", kind, key, err)
	}
	return sn, nil
}

// Get returns a snapshot by key or name.
func (s *Store) Get(ctx context.Context, key string) (Snapshot, error) {
	var sn Snapshot
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		sn, err = s.snapshot(b, r)
		return err
	})
	return sn, err
}

// ViewOf returns the snapshot a view of the committed snapshot name would
// be, without recording it: its parents are name and name's parents.
func (s *Store) ViewOf(ctx context.Context, name string) (Snapshot, error) {
	sn, err := s.Get(ctx, name)
	if err != nil {
		return Snapshot{}, err
	}
	if sn.Kind != snapshots.KindCommitted {
		return Snapshot{}, fmt.Errorf("snapshot %q is %s, not committed: %w", name, sn.Kind, errdefs.ErrFailedPrecondition)
	}
	return Snapshot{Kind: snapshots.KindView, Parent: name, Dir: sn.Dir, ParentDirs: append([]string{sn.Dir}, sn.ParentDirs...)}, nil
}

// Stat returns the info of a snapshot by key or name.
func (s *Store) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	var info snapshots.Info
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		info = snapshots.Info{Name: key, Parent: r.Parent, Kind: r.Kind, Created: r.Created, Labels: r.Labels}
		return nil
	})
	return info, err
}

// List returns every snapshot of the namespace.
func (s *Store) List(ctx context.Context) ([]snapshots.Info, error) {
	var out []snapshots.Info
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil || b == nil {
			return err
		}
		// A record that cannot be read is an error, not a gap: garbage
		// collection would take its parents for unused.
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: corrupt record: %w", k, err)
			}
			out = append(out, snapshots.Info{Name: string(k), Parent: r.Parent, Kind: r.Kind, Created: r.Created, Labels: r.Labels})
			return nil
		})
	})
	return out, err
}

// Commit turns the active snapshot key into the committed snapshot name and
// returns it.
func (s *Store) Commit(ctx context.Context, name, key string, labels map[string]string) (Snapshot, error) {
	if err := validKey(name); err != nil {
		return Snapshot{}, err
	}
	// The layer's files reach the disk before the record says committed: a
	// power loss must not leave a committed snapshot with missing files.
	if err := s.syncActive(ctx, key); err != nil {
		return Snapshot{}, fmt.Errorf("commit %q as %q: %w", key, name, err)
	}
	failpoint.Hit("snapshot-commit")
	var sn Snapshot
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, true)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		if err != nil {
			return err
		}
		if r.Kind != snapshots.KindActive {
			return fmt.Errorf("snapshot %q is %s, not active: %w", key, r.Kind, errdefs.ErrFailedPrecondition)
		}
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
		}
		r.Kind = snapshots.KindCommitted
		r.Created = time.Now().UTC()
		if labels != nil {
			r.Labels = labels
		}
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		if sn, err = s.snapshot(b, r); err != nil {
			return err
		}
		return put(b, name, r)
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("commit %q as %q: %w", key, name, err)
	}
	failpoint.Hit("snapshot-committed")
	return sn, nil
}

// Remove removes a snapshot and its directory; a snapshot with children
// cannot be removed.
func (s *Store) Remove(ctx context.Context, key string) error {
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
		err = b.ForEach(func(k, v []byte) error {
			var c record
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("snapshot %q: corrupt record (it may be a child): %w", k, err)
			}
			if child == "" && c.Parent == key {
				child = string(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
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
// carry label (and that keep, if not nil, does not spare): work a crash
// interrupted, such as an unpack.
func (s *Store) RemoveActiveLabeled(label string, keep func(ns, key, value string) bool) error {
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
				if json.Unmarshal(v, &r) == nil && r.Kind == snapshots.KindActive {
					if v, ok := r.Labels[label]; ok && (keep == nil || !keep(string(ns), string(k), v)) {
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

// Namespaces lists the namespaces that have snapshots.
func (s *Store) Namespaces() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}

// Usage is the disk space and inodes under dir, hardlinked files once.
func Usage(dir string) (size, inodes int64, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
			size += st.Blocks * 512
		}
		inodes++
		return nil
	})
	return size, inodes, err
}
