package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
)

// UnpackLabel marks the temporary snapshots of an unpack in progress; those a
// crash left are removed at start (RemoveActiveLabeled).
const UnpackLabel = "berth.unpack"

// Unpack makes sure every layer is unpacked into the committed snapshot named
// by its chain ID, and returns the chain ID of the top layer. A layer already
// unpacked is not unpacked again, but its blob is still checked against its
// diff ID. The uncompressed digest of every layer must equal diffIDs[i].
func (s *Store) Unpack(ctx context.Context, layers []ocispec.Descriptor, diffIDs []digest.Digest) (digest.Digest, error) {
	if len(layers) != len(diffIDs) {
		return "", fmt.Errorf("image has %d layers but %d diff IDs: %w", len(layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	parent := ""
	for i, l := range layers {
		chain := identity.ChainID(diffIDs[:i+1]).String()
		if _, err := s.snaps.Stat(ctx, chain); err == nil {
			if err := s.checkDiffID(ctx, l, diffIDs[i]); err != nil {
				return "", err
			}
			parent = chain
			continue
		}
		if err := s.unpackLayer(ctx, l, diffIDs[i], parent, chain); err != nil {
			return "", fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		parent = chain
	}
	return digest.Digest(parent), nil
}

func (s *Store) checkDiffID(ctx context.Context, l ocispec.Descriptor, want digest.Digest) error {
	f, err := s.content.Open(ctx, l.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := archive.DiffID(f)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if got != want {
		return fmt.Errorf("layer %s: uncompressed digest %s does not match diff ID %s: %w", l.Digest, got, want, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Store) unpackLayer(ctx context.Context, l ocispec.Descriptor, diffID digest.Digest, parent, chain string) (retErr error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := "extract-" + hex.EncodeToString(rnd[:]) + "-" + chain
	mounts, err := s.snaps.Prepare(ctx, key, parent, map[string]string{UnpackLabel: "true"})
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			s.snaps.Remove(ctx, key)
		}
	}()
	blob, err := s.content.Open(ctx, l.Digest)
	if err != nil {
		return err
	}
	defer blob.Close()

	var res archive.Result
	if parent == "" {
		// The first layer: apply straight into the snapshot directory.
		upper, err := s.snaps.UpperDir(ctx, key)
		if err != nil {
			return err
		}
		res, err = archive.Apply(ctx, upper, blob, archive.Options{Whiteouts: archive.OverlayWhiteouts})
		if err != nil {
			return err
		}
	} else {
		// Apply on the mounted snapshot, so paths resolve through the lower
		// layers (a symlinked /lib in a parent) and overlayfs makes whiteouts.
		target, err := os.MkdirTemp(s.tmp, "unpack-")
		if err != nil {
			return err
		}
		defer os.Remove(target)
		if err := snapshots.MountAll(mounts, target); err != nil {
			return err
		}
		res, err = archive.Apply(ctx, target, blob, archive.Options{Whiteouts: archive.RemoveWhiteouts})
		if uerr := snapshots.Unmount(target); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
	}
	if res.DiffID != diffID {
		return fmt.Errorf("uncompressed digest %s does not match diff ID %s: %w", res.DiffID, diffID, errdefs.ErrInvalidArgument)
	}
	if err := s.snaps.Commit(ctx, chain, key, nil); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return s.snaps.Remove(ctx, key) // unpacked meanwhile by another import
		}
		return err
	}
	return nil
}
