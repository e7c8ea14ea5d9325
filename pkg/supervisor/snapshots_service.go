package supervisor

import (
	"context"
	"os"

	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// snapshotsService serves the snapshotter in use (overlayfs or native).
type snapshotsService struct {
	pb.UnimplementedSnapshotsServer
	s *Server
}

func mountsToPB(ms []snapshots.Mount) []*pb.Mount {
	var out []*pb.Mount
	for _, m := range ms {
		out = append(out, &pb.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
	}
	return out
}

func infoToPB(i snapshots.Info) *pb.SnapshotInfo {
	return &pb.SnapshotInfo{Name: i.Name, Parent: i.Parent, Kind: pb.SnapshotKind(i.Kind), CreatedAt: i.Created.UnixNano(), Labels: i.Labels}
}

func (ss *snapshotsService) Prepare(ctx context.Context, req *pb.PrepareSnapshotRequest) (*pb.PrepareSnapshotResponse, error) {
	m, err := ss.s.snaps.Prepare(ctx, req.Key, req.Parent, req.Labels)
	if err != nil {
		return nil, err
	}
	return &pb.PrepareSnapshotResponse{Mounts: mountsToPB(m)}, nil
}

func (ss *snapshotsService) View(ctx context.Context, req *pb.ViewSnapshotRequest) (*pb.ViewSnapshotResponse, error) {
	m, err := ss.s.snaps.View(ctx, req.Key, req.Parent, req.Labels)
	if err != nil {
		return nil, err
	}
	return &pb.ViewSnapshotResponse{Mounts: mountsToPB(m)}, nil
}

func (ss *snapshotsService) Mounts(ctx context.Context, req *pb.MountsRequest) (*pb.MountsResponse, error) {
	m, err := ss.s.snaps.Mounts(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	return &pb.MountsResponse{Mounts: mountsToPB(m)}, nil
}

func (ss *snapshotsService) Commit(ctx context.Context, req *pb.CommitSnapshotRequest) (*pb.CommitSnapshotResponse, error) {
	return &pb.CommitSnapshotResponse{}, ss.s.snaps.Commit(ctx, req.Name, req.Key, req.Labels)
}

func (ss *snapshotsService) Remove(ctx context.Context, req *pb.RemoveSnapshotRequest) (*pb.RemoveSnapshotResponse, error) {
	return &pb.RemoveSnapshotResponse{}, ss.s.snaps.Remove(ctx, req.Key)
}

func (ss *snapshotsService) Stat(ctx context.Context, req *pb.StatSnapshotRequest) (*pb.StatSnapshotResponse, error) {
	i, err := ss.s.snaps.Stat(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	return &pb.StatSnapshotResponse{Info: infoToPB(i)}, nil
}

func (ss *snapshotsService) List(ctx context.Context, req *pb.ListSnapshotsRequest) (*pb.ListSnapshotsResponse, error) {
	l, err := ss.s.snaps.List(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.ListSnapshotsResponse{}
	for _, i := range l {
		resp.Info = append(resp.Info, infoToPB(i))
	}
	return resp, nil
}

// introspectionService tells what this supervisord is.
type introspectionService struct {
	pb.UnimplementedIntrospectionServer
	s *Server
}

func (is *introspectionService) Version(ctx context.Context, req *pb.VersionRequest) (*pb.VersionResponse, error) {
	return &pb.VersionResponse{Version: Version, Revision: Revision}, nil
}

func (is *introspectionService) Server(ctx context.Context, req *pb.ServerRequest) (*pb.ServerResponse, error) {
	resp := &pb.ServerResponse{
		Uuid:           is.s.uuid,
		Root:           is.s.cfg.Root,
		State:          is.s.cfg.State,
		Snapshotter:    is.s.snapName,
		DefaultRuntime: is.s.cfg.DefaultRuntime,
		Pid:            int64(os.Getpid()),
	}
	for _, r := range is.s.cfg.Runtimes {
		resp.Runtimes = append(resp.Runtimes, &pb.RuntimeInfo{Name: r.Name, Path: r.Path, Args: r.Args})
	}
	return resp, nil
}
