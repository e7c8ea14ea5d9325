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
	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
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
	parent := digest.Digest("")
	for i, l := range layers {
		chain, err := s.UnpackLayer(ctx, l, diffIDs[i], parent)
		if err != nil {
			return "", fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		parent = chain
	}
	return parent, nil
}

// unpacker unpacks layers in order as they are stored, so that storing the
// next layer's blob (disk writes) overlaps unpacking this one.
type unpacker struct {
	layers chan ocispec.Descriptor
	done   chan struct{}
	chain  digest.Digest
	err    error
	n      int
	cancel context.CancelFunc
}

func (s *Store) startUnpack(ctx context.Context, diffIDs []digest.Digest) *unpacker {
	ctx, cancel := context.WithCancel(ctx)
	u := &unpacker{layers: make(chan ocispec.Descriptor, len(diffIDs)+1), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(u.done)
		i := 0
		for l := range u.layers {
			if u.err != nil {
				continue // drain
			}
			if i >= len(diffIDs) {
				u.err = fmt.Errorf("image has more layers than its %d diff IDs: %w", len(diffIDs), errdefs.ErrInvalidArgument)
				continue
			}
			chain, err := s.UnpackLayer(ctx, l, diffIDs[i], u.chain)
			if err != nil {
				u.err = fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
				continue
			}
			u.chain = chain
			i++
		}
		if u.err == nil && i != len(diffIDs) {
			u.err = fmt.Errorf("image has %d layers but %d diff IDs: %w", i, len(diffIDs), errdefs.ErrInvalidArgument)
		}
	}()
	return u
}

func (u *unpacker) add(l ocispec.Descriptor) { u.layers <- l }

// wait returns the top chain ID once every layer added is unpacked.
func (u *unpacker) wait() (digest.Digest, error) {
	close(u.layers)
	<-u.done
	u.cancel()
	return u.chain, u.err
}

// abort stops unpacking (what is unpacked stays, for garbage collection).
func (u *unpacker) abort() {
	u.cancel()
	u.wait()
}

// UnpackLayer unpacks one layer (its blob already in the content store) on
// top of the committed snapshot parent ("" for the first layer) and returns
// its chain ID. A pull calls it layer after layer while later layers are
// still downloading.
func (s *Store) UnpackLayer(ctx context.Context, l ocispec.Descriptor, diffID, parent digest.Digest) (digest.Digest, error) {
	// The diff ID comes from an image config: it names snapshots.
	if err := content.CheckDigest(diffID); err != nil {
		return "", fmt.Errorf("layer %s: diff ID: %w", l.Digest, err)
	}
	chain := diffID
	if parent != "" {
		chain = identity.ChainID([]digest.Digest{parent, diffID})
	}
	if _, err := s.snaps.Stat(ctx, chain.String()); err == nil {
		return chain, s.checkDiffID(ctx, l, diffID)
	}
	if err := s.unpackLayer(ctx, l, diffID, parent.String(), chain.String()); err != nil {
		return "", err
	}
	return chain, nil
}

// DiffIDLabel is the content label recording a layer blob's diff ID
// (containerd's name). Only the supervisor sets it, once it has computed
// the digest itself (unpack, Snapshots.Diff): the API cannot set labels.
const DiffIDLabel = "containerd.io/uncompressed"

func (s *Store) checkDiffID(ctx context.Context, l ocispec.Descriptor, want digest.Digest) error {
	if s.content.Labels(ctx, l.Digest)[DiffIDLabel] == want.String() {
		return nil // computed before: no need to decompress it again
	}
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

	// Either snapshotter gives a writable tree showing the parent's files:
	// a bind of a plain directory (native: a copy of the parent; overlay:
	// the first layer) is written directly, anything else is mounted so
	// paths resolve through the lower layers (a symlinked /lib in a parent).
	// Whiteouts delete: on a copy that is the layer's meaning, on a mounted
	// overlay the kernel turns the deletions into whiteouts in the upperdir.
	opts := archive.Options{Whiteouts: archive.RemoveWhiteouts}
	var res archive.Result
	if len(mounts) == 1 && mounts[0].Type == "bind" {
		res, err = archive.Apply(ctx, mounts[0].Source, blob, opts)
		if err != nil {
			return err
		}
	} else {
		target, err := os.MkdirTemp(s.tmp, "unpack-")
		if err != nil {
			return err
		}
		defer os.Remove(target)
		if err := snapshots.MountAll(mounts, target); err != nil {
			return err
		}
		res, err = archive.Apply(ctx, target, blob, opts)
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
	s.content.UpdateLabels(ctx, l.Digest, func(m map[string]string) { m[DiffIDLabel] = diffID.String() })
	failpoint.Hit("unpack-applied")
	if err := s.snaps.Commit(ctx, chain, key, nil); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return s.snaps.Remove(ctx, key) // unpacked meanwhile by another import
		}
		return err
	}
	return nil
}
