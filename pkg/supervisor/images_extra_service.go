package supervisor

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (c *contentService) ListStatuses(ctx context.Context, req *pb.ListStatusesRequest) (*pb.ListStatusesResponse, error) {
	sts, err := c.s.content.ListStatuses(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.ListStatusesResponse{}
	for _, st := range sts {
		resp.Statuses = append(resp.Statuses, &pb.IngestStatus{Ref: st.Ref, Offset: st.Offset, Total: st.Total,
			Expected: st.Expected.String(), StartedAt: st.StartedAt.UnixNano(), UpdatedAt: st.UpdatedAt.UnixNano()})
	}
	return resp, nil
}

func (c *contentService) Abort(ctx context.Context, req *pb.AbortRequest) (*pb.AbortResponse, error) {
	return &pb.AbortResponse{}, c.s.content.Abort(ctx, req.Ref)
}

func (s *snapshotsService) Usage(ctx context.Context, req *pb.UsageRequest) (*pb.UsageResponse, error) {
	size, inodes, err := s.s.snaps.Usage(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	return &pb.UsageResponse{Size: size, Inodes: inodes}, nil
}

func (is *imagesService) Create(ctx context.Context, req *pb.CreateImageRequest) (*pb.CreateImageResponse, error) {
	if req.Image == nil || req.Image.Target == nil {
		return nil, fmt.Errorf("create image: name and target are required: %w", errdefs.ErrInvalidArgument)
	}
	d, err := parseDigest(req.Image.Target.Digest)
	if err != nil {
		return nil, err
	}
	img, err := is.s.images.Create(ctx, req.Image.Name, ocispec.Descriptor{MediaType: req.Image.Target.MediaType, Digest: d, Size: req.Image.Target.Size}, req.Overwrite)
	if err != nil {
		return nil, err
	}
	return &pb.CreateImageResponse{Image: imageToPB(img)}, nil
}

// exportWriter sends what is written as ExportResponse messages of at most
// 1 MiB (under gRPC's 4 MB message limit).
type exportWriter struct{ stream pb.Images_ExportServer }

func (w exportWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), readChunk)
		if err := w.stream.Send(&pb.ExportResponse{Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

func (is *imagesService) Export(req *pb.ExportRequest, stream pb.Images_ExportServer) error {
	is.s.gcMu.RLock()
	defer is.s.gcMu.RUnlock()
	return is.s.images.Export(stream.Context(), exportWriter{stream}, req.Names, req.Format)
}

var _ digest.Digest
