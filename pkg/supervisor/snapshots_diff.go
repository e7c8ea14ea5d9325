package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	gzip "github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// diffOf computes what the active snapshot key changed against its parent
// and calls fn with it while the trees are reachable. An overlay snapshot's
// upper directory is read as is (its whiteouts say what was deleted); a
// native one is compared with its parent file by file. The parent is
// mounted read-only in the supervisor's tmp (emptied at start, so a crash
// leaves nothing mounted for long).
func (ss *snapshotsService) diffOf(ctx context.Context, key string, exclude []string, fn func(info snapshots.Info, d *archive.Diff) error) error {
	info, err := ss.s.snaps.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.Kind != snapshots.KindActive {
		return fmt.Errorf("snapshot %s is %s, not active: %w", key, info.Kind, errdefs.ErrFailedPrecondition)
	}
	ms, err := ss.s.snaps.Mounts(ctx, key)
	if err != nil {
		return err
	}
	upper, overlay, err := upperOf(ms)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", key, err)
	}
	lower := ""
	if info.Parent != "" {
		lms, err := ss.s.snaps.ViewMounts(ctx, info.Parent)
		if err != nil {
			return err
		}
		if lms, err = readOnlyMounts(lms); err != nil {
			return err
		}
		tmp := filepath.Join(ss.s.cfg.Root, "tmp")
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return err
		}
		dir, err := os.MkdirTemp(tmp, "diff-")
		if err != nil {
			return err
		}
		defer os.Remove(dir)
		if err := snapshots.MountAll(lms, dir); err != nil {
			return fmt.Errorf("mount parent %s: %w", info.Parent, err)
		}
		defer snapshots.Unmount(dir)
		lower = dir
	}
	var d *archive.Diff
	if overlay {
		d, err = archive.DiffOverlay(upper, lower, exclude)
	} else {
		d, err = archive.DiffTrees(upper, lower, exclude)
	}
	if err != nil {
		return err
	}
	return fn(info, d)
}

// upperOf finds the directory holding an active snapshot's files: an
// overlay's upperdir, or the directory a bind mount shows (native, or a
// snapshot without parent).
func upperOf(ms []snapshots.Mount) (dir string, overlay bool, err error) {
	if len(ms) != 1 {
		return "", false, fmt.Errorf("%d mounts, want 1: %w", len(ms), errdefs.ErrFailedPrecondition)
	}
	switch ms[0].Type {
	case "bind":
		return ms[0].Source, false, nil
	case "overlay":
		for _, o := range ms[0].Options {
			if u, ok := strings.CutPrefix(o, "upperdir="); ok {
				return u, true, nil
			}
		}
	}
	return "", false, fmt.Errorf("mount of type %s without an upper directory: %w", ms[0].Type, errdefs.ErrFailedPrecondition)
}

func (ss *snapshotsService) Changes(ctx context.Context, req *pb.SnapshotChangesRequest) (*pb.SnapshotChangesResponse, error) {
	ss.s.gcMu.RLock()
	defer ss.s.gcMu.RUnlock()
	resp := &pb.SnapshotChangesResponse{}
	err := ss.diffOf(ctx, req.Key, req.Exclude, func(_ snapshots.Info, d *archive.Diff) error {
		for _, c := range d.Changes {
			resp.Changes = append(resp.Changes, &pb.SnapshotChange{Path: c.Path, Kind: pb.ChangeKind(c.Kind)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of snapshot %s: %w", req.Key, err)
	}
	return resp, nil
}

func (ss *snapshotsService) Diff(ctx context.Context, req *pb.DiffSnapshotRequest) (*pb.DiffSnapshotResponse, error) {
	ss.s.gcMu.RLock()
	defer ss.s.gcMu.RUnlock()
	if req.Lease != "" {
		var l lease
		if err := ss.s.db.View(ctx, func(tx *metadata.Tx) error { return tx.Get(leasesKind, req.Lease, &l) }); err != nil {
			return nil, fmt.Errorf("diff snapshot %s: lease %s: %w", req.Key, req.Lease, err)
		}
	}
	resp := &pb.DiffSnapshotResponse{}
	var parent string
	err := ss.diffOf(ctx, req.Key, req.Exclude, func(info snapshots.Info, d *archive.Diff) error {
		parent = info.Parent
		if req.Commit && parent != "" {
			if _, err := digest.Parse(parent); err != nil {
				return fmt.Errorf("commit: parent %q is not a chain ID: %w", parent, errdefs.ErrFailedPrecondition)
			}
		}
		desc, diffID, err := ss.writeLayer(ctx, d)
		if err != nil {
			return err
		}
		resp.Layer = &pb.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest.String(), Size: desc.Size}
		resp.DiffId = diffID.String()
		resp.Empty = d.Empty()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diff snapshot %s: %w", req.Key, err)
	}
	if req.Lease != "" {
		if err := ss.s.addLeaseResource(ctx, req.Lease, "content", resp.Layer.Digest); err != nil {
			return nil, fmt.Errorf("diff snapshot %s: lease %s: %w", req.Key, req.Lease, err)
		}
	}
	if !req.Commit {
		return resp, nil
	}
	chain := digest.Digest(resp.DiffId)
	if parent != "" {
		chain = identity.ChainID([]digest.Digest{digest.Digest(parent), chain})
	}
	resp.ChainId = chain.String()
	if req.Lease != "" {
		// Recorded first: between the commit and the image that will
		// reference it, only the lease keeps the snapshot.
		if err := ss.s.addLeaseResource(ctx, req.Lease, "snapshots", resp.ChainId); err != nil {
			return nil, fmt.Errorf("diff snapshot %s: lease %s: %w", req.Key, req.Lease, err)
		}
	}
	if err := ss.s.snaps.Commit(ctx, resp.ChainId, req.Key, nil); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("diff snapshot %s: commit %s: %w", req.Key, resp.ChainId, err)
		}
		// The same layer on the same parent exists: it is this content.
		if err := ss.s.snaps.Remove(ctx, req.Key); err != nil {
			return nil, fmt.Errorf("diff snapshot %s: %w", req.Key, err)
		}
	}
	return resp, nil
}

// writeLayer streams the diff's tar through gzip into the content store,
// computing the diff ID on the way.
func (ss *snapshotsService) writeLayer(ctx context.Context, d *archive.Diff) (ocispec.Descriptor, digest.Digest, error) {
	pr, pw := io.Pipe()
	dg := digest.SHA256.Digester()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		err := d.WriteTar(ctx, io.MultiWriter(zw, dg.Hash()))
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	info, err := ss.s.content.Write(ctx, pr, "", -1)
	pr.CloseWithError(err) // stops the writer if the store failed
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	// Computed here: a Compose of this layer need not decompress it again.
	ss.s.content.UpdateLabels(ctx, info.Digest, func(m map[string]string) { m[images.DiffIDLabel] = dg.Digest().String() })
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: info.Digest, Size: info.Size}, dg.Digest(), nil
}
