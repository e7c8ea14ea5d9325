package snapshots

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// Namespaces lists the namespaces that have snapshots (for garbage
// collection, which walks them all).
func (s *Snapshotter) Namespaces() ([]string, error) {
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

// Usage is the disk space and inodes a snapshot's own directory uses (not
// its parents'). Hardlinked files are counted once.
func (s *Snapshotter) Usage(ctx context.Context, key string) (size, inodes int64, err error) {
	var id uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ctx, false)
		if err != nil {
			return err
		}
		r, err := get(b, key)
		id = r.ID
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	seen := map[uint64]bool{}
	err = filepath.WalkDir(filepath.Join(s.dir(id), "fs"), func(p string, d fs.DirEntry, err error) error {
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
