package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// contentService serves the content store.
type contentService struct {
	pb.UnimplementedContentServer
	s *Server
}

func parseDigest(d string) (digest.Digest, error) {
	dg, err := digest.Parse(d)
	if err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return dg, nil
}

func (c *contentService) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	d, err := parseDigest(req.Digest)
	if err != nil {
		return nil, err
	}
	info, err := c.s.content.Info(ctx, d)
	if err != nil {
		return nil, err
	}
	return &pb.InfoResponse{Info: &pb.ContentInfo{Digest: info.Digest.String(), Size: info.Size, CreatedAt: info.CreatedAt.UnixNano(), Labels: c.s.content.Labels(ctx, d)}}, nil
}

func (c *contentService) List(ctx context.Context, req *pb.ListContentRequest) (*pb.ListContentResponse, error) {
	infos, err := c.s.content.List(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.ListContentResponse{}
	for _, i := range infos {
		resp.Info = append(resp.Info, &pb.ContentInfo{Digest: i.Digest.String(), Size: i.Size, CreatedAt: i.CreatedAt.UnixNano()})
	}
	return resp, nil
}

const readChunk = 1 << 20

func (c *contentService) Read(req *pb.ReadContentRequest, stream pb.Content_ReadServer) error {
	d, err := parseDigest(req.Digest)
	if err != nil {
		return err
	}
	if req.Offset < 0 || req.Size < 0 {
		return fmt.Errorf("read %s: negative offset or size: %w", d, errdefs.ErrInvalidArgument)
	}
	f, err := c.s.content.Open(stream.Context(), d)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = io.NewSectionReader(f, req.Offset, 1<<62)
	if req.Size > 0 {
		r = io.LimitReader(r, req.Size)
	}
	off := req.Offset
	buf := make([]byte, readChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if serr := stream.Send(&pb.ReadContentResponse{Offset: off, Data: buf[:n]}); serr != nil {
				return serr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", d, err)
		}
	}
}

func (c *contentService) Delete(ctx context.Context, req *pb.DeleteContentRequest) (*pb.DeleteContentResponse, error) {
	d, err := parseDigest(req.Digest)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteContentResponse{}, c.s.content.Delete(ctx, d)
}

// imagesService serves the image store.
type imagesService struct {
	pb.UnimplementedImagesServer
	s *Server
}

func descToPB(d ocispec.Descriptor) *pb.Descriptor {
	return &pb.Descriptor{MediaType: d.MediaType, Digest: d.Digest.String(), Size: d.Size, Annotations: d.Annotations}
}

func imageToPB(i images.Image) *pb.Image {
	return &pb.Image{
		Name:      i.Name,
		Target:    descToPB(i.Target),
		Config:    descToPB(i.Config),
		ChainId:   i.ChainID.String(),
		Size:      i.Size,
		Labels:    i.Labels,
		CreatedAt: i.CreatedAt.UnixNano(),
		UpdatedAt: i.UpdatedAt.UnixNano(),
	}
}

func (is *imagesService) Get(ctx context.Context, req *pb.GetImageRequest) (*pb.GetImageResponse, error) {
	img, err := is.s.images.Get(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &pb.GetImageResponse{Image: imageToPB(img)}, nil
}

func (is *imagesService) List(ctx context.Context, req *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	imgs, err := is.s.images.List(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.ListImagesResponse{}
	for _, i := range imgs {
		resp.Images = append(resp.Images, imageToPB(i))
	}
	return resp, nil
}

func (is *imagesService) Delete(ctx context.Context, req *pb.DeleteImageRequest) (*pb.DeleteImageResponse, error) {
	if err := is.s.images.Delete(ctx, req.Name); err != nil {
		return nil, err
	}
	is.s.publish(ctx, &pb.Envelope{Topic: "/images/delete", Image: req.Name})
	return &pb.DeleteImageResponse{}, nil
}

// importReader reads the data of an Import stream.
type importReader struct {
	stream pb.Images_ImportServer
	buf    []byte
	first  *pb.ImportRequest
}

func (r *importReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.first != nil {
			r.buf, r.first = r.first.Data, nil
			continue
		}
		m, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func platformFromPB(p *pb.Platform) ocispec.Platform {
	return ocispec.Platform{OS: p.GetOs(), Architecture: p.GetArchitecture(), Variant: p.GetVariant(), OSVersion: p.GetOsVersion(), OSFeatures: p.GetOsFeatures()}
}

func (is *imagesService) Import(stream pb.Images_ImportServer) error {
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("import: no data: %w", errdefs.ErrInvalidArgument)
		}
		return err
	}
	// Keep garbage collection out until the names are recorded.
	is.s.gcMu.RLock()
	defer is.s.gcMu.RUnlock()
	var want []ocispec.Platform
	for _, p := range first.Platforms {
		if p.GetOs() == "" || p.GetArchitecture() == "" {
			return fmt.Errorf("import: platform %v: os and architecture are required: %w", p, errdefs.ErrInvalidArgument)
		}
		want = append(want, platformFromPB(p))
	}
	imgs, err := is.s.images.Import(stream.Context(), &importReader{stream: stream, first: first}, first.Name, want...)
	if err != nil {
		return err
	}
	resp := &pb.ImportResponse{}
	for _, i := range imgs {
		resp.Images = append(resp.Images, imageToPB(i))
		is.s.publish(stream.Context(), &pb.Envelope{Topic: "/images/create", Image: resp.Images[len(resp.Images)-1].Name})
	}
	return stream.SendAndClose(resp)
}
