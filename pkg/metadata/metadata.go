// Package metadata is supervisord's record store: one bbolt file holding, per
// namespace, one bucket per kind of object ("images", "containers"), each
// mapping a key to a JSON record. Every change is one bbolt transaction, so a
// crash at any point leaves the store as before or after the change.
package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
)

// Kinds of records.
const (
	Images     = "images"
	Containers = "containers"
)

var bucketNS = []byte("v1")

// DB is the record store.
type DB struct {
	db *bolt.DB
}

// Open opens (creating) the store at path.
func Open(path string) (*DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Close closes the store.
func (d *DB) Close() error { return d.db.Close() }

// Tx is one transaction on one namespace.
type Tx struct {
	tx *bolt.Tx
	ns string
}

func (t *Tx) bucket(kind string, create bool) (*bolt.Bucket, error) {
	if !create {
		b := t.tx.Bucket(bucketNS)
		if b == nil {
			return nil, nil
		}
		if b = b.Bucket([]byte(t.ns)); b == nil {
			return nil, nil
		}
		return b.Bucket([]byte(kind)), nil
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketNS)
	if err != nil {
		return nil, err
	}
	if b, err = b.CreateBucketIfNotExists([]byte(t.ns)); err != nil {
		return nil, err
	}
	return b.CreateBucketIfNotExists([]byte(kind))
}

// Get decodes the record kind/key into v.
func (t *Tx) Get(kind, key string, v any) error {
	b, err := t.bucket(kind, false)
	if err != nil {
		return err
	}
	var raw []byte
	if b != nil {
		raw = b.Get([]byte(key))
	}
	if raw == nil {
		return fmt.Errorf("%s %q: %w", kind[:len(kind)-1], key, errdefs.ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q: corrupt record: %w", kind, key, err)
	}
	return nil
}

// Put writes the record kind/key.
func (t *Tx) Put(kind, key string, v any) error {
	b, err := t.bucket(kind, true)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// Create writes the record kind/key, which must not exist.
func (t *Tx) Create(kind, key string, v any) error {
	b, err := t.bucket(kind, true)
	if err != nil {
		return err
	}
	if b.Get([]byte(key)) != nil {
		return fmt.Errorf("%s %q: %w", kind[:len(kind)-1], key, errdefs.ErrAlreadyExists)
	}
	return t.Put(kind, key, v)
}

// Delete removes the record kind/key.
func (t *Tx) Delete(kind, key string) error {
	b, err := t.bucket(kind, false)
	if err != nil {
		return err
	}
	if b == nil || b.Get([]byte(key)) == nil {
		return fmt.Errorf("%s %q: %w", kind[:len(kind)-1], key, errdefs.ErrNotFound)
	}
	return b.Delete([]byte(key))
}

// ForEach calls fn with every key and raw record of kind.
func (t *Tx) ForEach(kind string, fn func(key string, raw []byte) error) error {
	b, err := t.bucket(kind, false)
	if err != nil || b == nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// View runs fn in a read transaction on the context's namespace.
func (d *DB) View(ctx context.Context, fn func(*Tx) error) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	return d.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, ns: ns}) })
}

// Update runs fn in a write transaction on the context's namespace.
func (d *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	return d.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, ns: ns}) })
}

// Namespaces lists the namespaces that have records.
func (d *DB) Namespaces() ([]string, error) {
	var out []string
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS)
		if b == nil {
			return nil
		}
		return b.ForEachBucket(func(k []byte) error { out = append(out, string(k)); return nil })
	})
	return out, err
}
