package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/snapshots"
)

// syncActive writes the files of the active snapshot key to disk. One
// syncfs(2) of the snapshot's filesystem rather than an fsync per file: an
// unpacked layer is thousands of small files, and syncfs flushes them in one
// pass (docs/decisions.md has what it costs on load).
func (s *Store) syncActive(ctx context.Context, key string) error {
	sn, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	f, err := os.Open(sn.Dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: sn.Dir, Err: err}
	}
	return nil
}

// syncDir makes a rename or a new entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// CommittedDirs lists the directories of every committed snapshot, in every
// namespace: a snapshotter drops what a crash left in them after the commit
// (the overlay's work directory).
func (s *Store) CommittedDirs() ([]string, error) {
	var dirs []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS)
		if b == nil {
			return nil
		}
		return b.ForEachBucket(func(ns []byte) error {
			return b.Bucket(ns).ForEach(func(k, v []byte) error {
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("snapshot %q: corrupt record: %w", k, err)
				}
				if r.Kind == snapshots.KindCommitted {
					dirs = append(dirs, s.dir(r.ID))
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("snapshotter: %w", err)
	}
	return dirs, nil
}
