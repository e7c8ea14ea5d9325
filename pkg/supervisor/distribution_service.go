package supervisor

import (
	"fmt"

	"github.com/berthd/berth/pkg/distribution"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// distributionService pulls and pushes through pkg/distribution.
type distributionService struct {
	pb.UnimplementedDistributionServer
	s *Server
}

func credsFromPB(a *pb.RegistryAuth) *distribution.Credentials {
	if a == nil {
		return nil
	}
	return &distribution.Credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
}

func progressToPB(p distribution.Progress) *pb.Progress {
	return &pb.Progress{Id: p.ID, Status: p.Status, Current: p.Current, Total: p.Total}
}

func (d *distributionService) Pull(req *pb.PullRequest, stream pb.Distribution_PullServer) error {
	ctx := stream.Context()
	var sendErr error
	opts := distribution.PullOptions{
		Credentials: credsFromPB(req.Auth),
		Progress: func(p distribution.Progress) {
			if sendErr == nil {
				sendErr = stream.Send(&pb.PullResponse{Progress: progressToPB(p)})
			}
		},
	}
	if p := req.Platform; p != nil && p.Architecture != "" {
		pp := platformFromPB(p)
		opts.Platform = &pp
	}
	release, err := d.s.holdLease(ctx, "pull "+req.Ref, &opts)
	if err != nil {
		return err
	}
	defer release()
	img, err := d.s.dist.Pull(ctx, req.Ref, opts)
	if err != nil {
		return fmt.Errorf("pull %s: %w", req.Ref, err)
	}
	if sendErr != nil {
		return sendErr
	}
	return stream.Send(&pb.PullResponse{Image: imageToPB(img)})
}

func (d *distributionService) Push(req *pb.PushRequest, stream pb.Distribution_PushServer) error {
	var sendErr error
	desc, err := d.s.dist.Push(stream.Context(), req.Name, req.Ref, distribution.PushOptions{
		Credentials: credsFromPB(req.Auth),
		Progress: func(p distribution.Progress) {
			if sendErr == nil {
				sendErr = stream.Send(&pb.PushResponse{Progress: progressToPB(p)})
			}
		},
	})
	if err != nil {
		return fmt.Errorf("push %s: %w", req.Name, err)
	}
	if sendErr != nil {
		return sendErr
	}
	return stream.Send(&pb.PushResponse{Digest: desc.Digest.String(), Size: desc.Size})
}
