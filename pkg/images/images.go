// Package images is the image store: names (normalized references) mapped to
// a manifest in the content store, with the image config and the chain ID of
// its unpacked root filesystem. Records live in pkg/metadata, per namespace.
package images

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/snapshots"
)

// Image is one named image.
type Image struct {
	Name      string             `json:"name"`
	Target    ocispec.Descriptor `json:"target"`
	Config    ocispec.Descriptor `json:"config"`
	ChainID   digest.Digest      `json:"chain_id,omitempty"`
	Size      int64              `json:"size"`
	Labels    map[string]string  `json:"labels,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// ID is the image ID: its config digest.
func (i Image) ID() digest.Digest { return i.Config.Digest }

// Store is the image store.
type Store struct {
	db      *metadata.DB
	content *content.Store
	snaps   snapshots.Snapshotter
	tmp     string
}

// NewStore makes an image store; tmp is a directory for import spools and
// unpack mounts (emptied by the caller at start).
func NewStore(db *metadata.DB, cs *content.Store, sn snapshots.Snapshotter, tmp string) *Store {
	return &Store{db: db, content: cs, snaps: sn, tmp: tmp}
}

// Normalize turns a reference into its normalized form, as Docker does:
// "busybox" is "docker.io/library/busybox:latest".
func Normalize(name string) (string, error) {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(n).String(), nil
}

var (
	hexPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{4,64}$`)
)

// Get finds an image by name, image ID ("sha256:<hex>") or a unique prefix
// (at least 4 hex digits) of its ID.
func (s *Store) Get(ctx context.Context, name string) (Image, error) {
	var img Image
	err := s.db.View(ctx, func(tx *metadata.Tx) error {
		if n, err := Normalize(name); err == nil {
			if err := tx.Get(metadata.Images, n, &img); err == nil {
				return nil
			}
		}
		if err := tx.Get(metadata.Images, name, &img); err == nil {
			return nil // an unnamed image, recorded under its digest
		}
		if !hexPrefix.MatchString(name) {
			return fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
		}
		prefix := name
		if !strings.HasPrefix(prefix, "sha256:") {
			prefix = "sha256:" + prefix
		}
		var found []Image
		ids := map[digest.Digest]bool{}
		tx.ForEach(metadata.Images, func(_ string, raw []byte) error {
			var i Image
			if json.Unmarshal(raw, &i) == nil && strings.HasPrefix(i.Config.Digest.String(), prefix) {
				found = append(found, i)
				ids[i.Config.Digest] = true
			}
			return nil
		})
		switch {
		case len(ids) == 0:
			return fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
		case len(ids) > 1:
			return fmt.Errorf("image ID prefix %q matches %d images: %w", name, len(ids), errdefs.ErrInvalidArgument)
		}
		img = found[0]
		return nil
	})
	return img, err
}

// List returns every image of the namespace, sorted by name.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	var out []Image
	err := s.db.View(ctx, func(tx *metadata.Tx) error {
		return tx.ForEach(metadata.Images, func(_ string, raw []byte) error {
			var i Image
			if err := json.Unmarshal(raw, &i); err != nil {
				return err
			}
			out = append(out, i)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Delete removes the name record. The blobs and snapshots stay until a
// garbage collection finds nothing else references them.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.db.Update(ctx, func(tx *metadata.Tx) error {
		if n, err := Normalize(name); err == nil {
			if err := tx.Delete(metadata.Images, n); err == nil {
				return nil
			}
		}
		return tx.Delete(metadata.Images, name)
	})
}

// Record stores imgs in one transaction (what a pull does at its end).
func (s *Store) Record(ctx context.Context, imgs []Image) error { return s.record(ctx, imgs) }

// record stores imgs in one transaction: all names or none. An existing name
// is moved to the new target (keeping its creation time), as a tag moves.
// The image a name leaves stays, as dockerd keeps it, as a dangling image
// (recorded under its ID) when no other name refers to it.
func (s *Store) record(ctx context.Context, imgs []Image) error {
	now := time.Now().UTC()
	failpoint.Hit("image-record")
	err := s.db.Update(ctx, func(tx *metadata.Tx) error {
		var left []Image
		for i := range imgs {
			var old Image
			imgs[i].CreatedAt, imgs[i].UpdatedAt = now, now
			if tx.Get(metadata.Images, imgs[i].Name, &old) == nil {
				imgs[i].CreatedAt = old.CreatedAt
				if old.ID() != imgs[i].ID() {
					left = append(left, old)
				}
			}
			if err := tx.Put(metadata.Images, imgs[i].Name, imgs[i]); err != nil {
				return err
			}
		}
		for _, old := range left {
			if err := keepDangling(tx, old); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		failpoint.Hit("image-recorded")
	}
	return err
}

// keepDangling records old under its ID (a dangling image: its content
// stays referenced) unless a record already refers to that ID (one that
// does not decode refers to nothing).
func keepDangling(tx *metadata.Tx, old Image) error {
	if old.ID() == "" {
		return nil
	}
	named := false
	err := tx.ForEach(metadata.Images, func(_ string, raw []byte) error {
		var i Image
		named = named || json.Unmarshal(raw, &i) == nil && i.ID() == old.ID()
		return nil
	})
	if err != nil || named {
		return err
	}
	old.Name = old.ID().String()
	return tx.Put(metadata.Images, old.Name, old)
}
