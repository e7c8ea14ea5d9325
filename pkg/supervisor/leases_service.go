package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/berthd/berth/pkg/distribution"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/supervisor/gc"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// leasesKind is the metadata bucket of leases, per namespace.
const leasesKind = gc.KindLeases

// lease is a lease record: what it protects is gc's business.
type lease = gc.Lease

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
	l, err := s.createLease(ctx, "", time.Hour, map[string]string{"berth.purpose": purpose, inflightLabel: "true"})
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
	return &pb.GarbageCollectResponse{RemovedBlobs: r.Blobs, RemovedSnapshots: r.Snapshots, ReclaimedBytes: r.Bytes}, nil
}

// garbageCollect runs the collector (pkg/supervisor/gc) with writers kept
// out: any error while marking removes nothing.
func (s *Server) garbageCollect(ctx context.Context) (gc.Result, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	c := gc.Collector{Meta: gcMetadata{s.db}, Content: s.content, Snapshots: s.snaps}
	res, err := c.Collect(ctx)
	for _, e := range res.Errors {
		s.log.Warn("gc", "err", e)
	}
	return res, err
}

// gcMetadata gives the collector the records of one namespace at a time.
type gcMetadata struct{ db *metadata.DB }

func (m gcMetadata) Namespaces() ([]string, error) { return m.db.Namespaces() }

func (m gcMetadata) ForEach(ctx context.Context, ns, kind string, fn func(string, []byte) error) error {
	return m.db.View(namespaces.WithNamespace(ctx, ns), func(tx *metadata.Tx) error { return tx.ForEach(kind, fn) })
}
