package supervisor

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/images"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (is *imagesService) Compose(ctx context.Context, req *pb.ComposeImageRequest) (*pb.ComposeImageResponse, error) {
	o := images.ComposeOptions{Base: req.Base, Config: req.Config, Name: req.Name}
	for _, l := range req.Layers {
		var blob ocispec.Descriptor
		if l.Blob != nil {
			blob = ocispec.Descriptor{MediaType: l.Blob.MediaType, Digest: digest.Digest(l.Blob.Digest), Size: l.Blob.Size}
		}
		o.Layers = append(o.Layers, images.Layer{Blob: blob, DiffID: digest.Digest(l.DiffId)})
	}
	for _, h := range req.History {
		e := ocispec.History{CreatedBy: h.CreatedBy, Author: h.Author, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != 0 {
			t := time.Unix(0, h.Created).UTC()
			e.Created = &t
		}
		o.History = append(o.History, e)
	}
	// Keep garbage collection out until the image is recorded.
	is.s.gcMu.RLock()
	defer is.s.gcMu.RUnlock()
	img, err := is.s.images.Compose(ctx, o)
	if err != nil {
		return nil, err
	}
	is.s.publish(ctx, &pb.Envelope{Topic: "/images/create", Image: img.Name})
	return &pb.ComposeImageResponse{Image: imageToPB(img)}, nil
}
