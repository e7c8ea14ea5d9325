package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/distribution"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// leasesKind is the metadata bucket of leases, per namespace.
const leasesKind = "leases"

// lease protects its resources ("content/<digest>", "snapshots/<name>";
// a pull's lease lists what it touches) from garbage collection until it is
// deleted or expires. A lease without resources (what a client creates
// through the API) protects every blob and snapshot made since its creation.
type lease struct {
	ID        string            `json:"id"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at,omitzero"`
	Labels    map[string]string `json:"labels,omitempty"`
	Resources map[string]bool   `json:"resources,omitempty"`
}

func (l lease) expired(now time.Time) bool { return !l.ExpiresAt.IsZero() && now.After(l.ExpiresAt) }

func leaseToPB(l lease) *pb.Lease {
	out := &pb.Lease{Id: l.ID, CreatedAt: l.CreatedAt.UnixNano(), Labels: l.Labels}
	if !l.ExpiresAt.IsZero() {
		out.ExpiresAt = l.ExpiresAt.UnixNano()
	}
	return out
}

type leasesService struct {
	pb.UnimplementedLeasesServer
	s *Server
}

func (s *Server) createLease(ctx context.Context, id string, ttl time.Duration, labels map[string]string) (lease, error) {
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	l := lease{ID: id, CreatedAt: time.Now().UTC(), Labels: labels}
	if ttl > 0 {
		l.ExpiresAt = l.CreatedAt.Add(ttl)
	}
	err := s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.Create(leasesKind, id, l) })
	return l, err
}

// addLeaseResource records kind/id in lease leaseID.
func (s *Server) addLeaseResource(ctx context.Context, leaseID, kind, id string) error {
	return s.db.Update(ctx, func(tx *metadata.Tx) error {
		var l lease
		if err := tx.Get(leasesKind, leaseID, &l); err != nil {
			return err
		}
		if l.Resources == nil {
			l.Resources = map[string]bool{}
		}
		l.Resources[kind+"/"+id] = true
		return tx.Put(leasesKind, leaseID, l)
	})
}

// holdLease protects what a pull touches with a lease (an hour at most, in
// case supervisord dies) until release; it also keeps garbage collection
// out while the pull runs.
func (s *Server) holdLease(ctx context.Context, purpose string, opts *distribution.PullOptions) (release func(), err error) {
	l, err := s.createLease(ctx, "", time.Hour, map[string]string{"berth.purpose": purpose})
	if err != nil {
		return nil, err
	}
	opts.Track = func(kind, id string) error { return s.addLeaseResource(ctx, l.ID, kind, id) }
	s.gcMu.RLock()
	return func() {
		s.gcMu.RUnlock()
		s.db.Update(context.WithoutCancel(ctx), func(tx *metadata.Tx) error { return tx.Delete(leasesKind, l.ID) })
	}, nil
}

func (ls *leasesService) Create(ctx context.Context, req *pb.CreateLeaseRequest) (*pb.CreateLeaseResponse, error) {
	l, err := ls.s.createLease(ctx, req.Id, time.Duration(req.TtlSeconds)*time.Second, req.Labels)
	if err != nil {
		return nil, err
	}
	return &pb.CreateLeaseResponse{Lease: leaseToPB(l)}, nil
}

func (ls *leasesService) Delete(ctx context.Context, req *pb.DeleteLeaseRequest) (*pb.DeleteLeaseResponse, error) {
	return &pb.DeleteLeaseResponse{}, ls.s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.Delete(leasesKind, req.Id) })
}

func (ls *leasesService) List(ctx context.Context, req *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) {
	resp := &pb.ListLeasesResponse{}
	err := ls.s.db.View(ctx, func(tx *metadata.Tx) error {
		return tx.ForEach(leasesKind, func(_ string, raw []byte) error {
			var l lease
			if json.Unmarshal(raw, &l) == nil {
				resp.Leases = append(resp.Leases, leaseToPB(l))
			}
			return nil
		})
	})
	return resp, err
}

func (ls *leasesService) GarbageCollect(ctx context.Context, req *pb.GarbageCollectRequest) (*pb.GarbageCollectResponse, error) {
	r, err := ls.s.garbageCollect(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.GarbageCollectResponse{RemovedBlobs: r.blobs, RemovedSnapshots: r.snapshots, ReclaimedBytes: r.bytes}, nil
}

type gcResult struct {
	blobs, snapshots []string
	bytes            int64
}

// garbageCollect marks, in every namespace, what images (target → index →
// manifests → config and layers, and the chain ID), containers (snapshot
// key and its parents) and live leases reference, and removes the blobs and
// committed snapshots left unmarked. Active snapshots and views are always
// kept (an unpack or a container uses them), with their parents.
func (s *Server) garbageCollect(ctx context.Context) (gcResult, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	var res gcResult
	blobs := map[digest.Digest]bool{}
	snapRoots := map[string]map[string]bool{} // namespace -> names
	nss, err := s.db.Namespaces()
	if err != nil {
		return res, err
	}
	snapNS, err := s.snaps.Namespaces()
	if err != nil {
		return res, err
	}
	now := time.Now()
	var window time.Time
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		roots := map[string]bool{}
		snapRoots[ns] = roots
		err := s.db.View(nctx, func(tx *metadata.Tx) error {
			tx.ForEach(metadata.Images, func(_ string, raw []byte) error {
				var img images.Image
				if json.Unmarshal(raw, &img) == nil {
					s.markTree(ctx, img.Target, blobs, 0)
					blobs[img.Config.Digest] = true
					if img.ChainID != "" {
						roots[img.ChainID.String()] = true
					}
				}
				return nil
			})
			tx.ForEach(metadata.Containers, func(_ string, raw []byte) error {
				var c container
				if json.Unmarshal(raw, &c) == nil && c.SnapshotKey != "" {
					roots[c.SnapshotKey] = true
				}
				return nil
			})
			return tx.ForEach(leasesKind, func(_ string, raw []byte) error {
				var l lease
				if json.Unmarshal(raw, &l) != nil || l.expired(now) {
					return nil
				}
				if len(l.Resources) == 0 && (window.IsZero() || l.CreatedAt.Before(window)) {
					// A client's lease names nothing: it protects all
					// that was made since it was taken.
					window = l.CreatedAt
				}
				for r := range l.Resources {
					if d, ok := cutPrefix(r, "content/"); ok {
						blobs[digest.Digest(d)] = true
					} else if n, ok := cutPrefix(r, "snapshots/"); ok {
						roots[n] = true
					}
				}
				return nil
			})
		})
		if err != nil {
			return res, err
		}
	}
	for _, ns := range snapNS {
		nctx := namespaces.WithNamespace(ctx, ns)
		infos, err := s.snaps.List(nctx)
		if err != nil {
			return res, err
		}
		byName := map[string]snapshots.Info{}
		keep := map[string]bool{}
		for _, i := range infos {
			byName[i.Name] = i
		}
		var markUp func(string)
		markUp = func(n string) {
			for n != "" && !keep[n] {
				keep[n] = true
				n = byName[n].Parent
			}
		}
		for _, i := range infos {
			if i.Kind != snapshots.KindCommitted || snapRoots[ns][i.Name] || (!window.IsZero() && !i.Created.Before(window)) {
				markUp(i.Name)
			}
		}
		// Children before parents: the deepest first.
		depth := func(n string) int {
			d := 0
			for ; n != ""; n = byName[n].Parent {
				d++
			}
			return d
		}
		var doomed []snapshots.Info
		for _, i := range infos {
			if !keep[i.Name] {
				doomed = append(doomed, i)
			}
		}
		sort.Slice(doomed, func(a, b int) bool { return depth(doomed[a].Name) > depth(doomed[b].Name) })
		for _, i := range doomed {
			if size, _, err := s.snaps.Usage(nctx, i.Name); err == nil {
				res.bytes += size
			}
			if err := s.snaps.Remove(nctx, i.Name); err != nil {
				s.log.Warn("gc: removing snapshot", "namespace", ns, "name", i.Name, "err", err)
				continue
			}
			res.snapshots = append(res.snapshots, ns+"/"+i.Name)
		}
	}
	all, err := s.content.List(ctx)
	if err != nil {
		return res, err
	}
	for _, b := range all {
		if blobs[b.Digest] || (!window.IsZero() && !b.CreatedAt.Before(window)) {
			continue
		}
		if err := s.content.Delete(ctx, b.Digest); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("gc: removing blob", "digest", b.Digest, "err", err)
			continue
		}
		res.blobs = append(res.blobs, b.Digest.String())
		res.bytes += b.Size
	}
	return res, nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// markTree marks a manifest or index and what it references that is here.
func (s *Server) markTree(ctx context.Context, d ocispec.Descriptor, blobs map[digest.Digest]bool, depth int) {
	if d.Digest == "" || depth > 4 {
		return
	}
	blobs[d.Digest] = true
	b, err := s.content.ReadAll(ctx, d.Digest, 8<<20)
	if err != nil {
		return
	}
	var m struct {
		MediaType string               `json:"mediaType"`
		Config    ocispec.Descriptor   `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(b, &m) != nil {
		return
	}
	for _, c := range m.Manifests {
		s.markTree(ctx, c, blobs, depth+1)
	}
	if m.Config.Digest != "" {
		blobs[m.Config.Digest] = true
	}
	for _, l := range m.Layers {
		blobs[l.Digest] = true
	}
}

var _ = fmt.Sprintf
