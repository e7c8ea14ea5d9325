package api

import (
	"context"
	"fmt"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
)

// containerSizes is SizeRw (the disk usage of the container's writable
// snapshot, as the supervisor reports it: what `system df` shows) and
// SizeRootFs (that plus the sizes of its image's layers), for size=1 of
// list and inspect.
type containerSizes struct {
	s          *Server
	be         images.Backend
	imageSizes map[string]int64 // by image ID, computed once per request
}

func (s *Server) newContainerSizes() (*containerSizes, error) {
	be, err := s.imageBackend()
	if err != nil {
		return nil, err
	}
	return &containerSizes{s: s, be: be, imageSizes: map[string]int64{}}, nil
}

func (cs *containerSizes) of(ctx context.Context, c containers.Container) (rw, rootfs int64, err error) {
	rw, err = cs.be.Usage(ctx, c.ID)
	if err != nil {
		return 0, 0, fmt.Errorf("size of container %s: %w", c.ID, err)
	}
	img, err := cs.imageSize(ctx, c.ImageID)
	if err != nil {
		return 0, 0, fmt.Errorf("size of the image of container %s: %w", c.ID, err)
	}
	return rw, rw + img, nil
}

func (cs *containerSizes) imageSize(ctx context.Context, id string) (int64, error) {
	if n, ok := cs.imageSizes[id]; ok {
		return n, nil
	}
	sup := cs.s.d.Supervisor()
	imgs, err := sup.ListImages(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	// An image deleted (forced) since the container was made counts
	// nothing: its layers are the container's snapshot's parents now.
	for _, img := range imgs {
		if img.GetConfig().GetDigest() != id {
			continue
		}
		cfg, err := sup.ImageConfig(ctx, img)
		if err != nil {
			return 0, err
		}
		sizes, err := images.LayerSizes(ctx, cs.be, img, cfg)
		if err != nil {
			return 0, err
		}
		for _, l := range sizes {
			n += l
		}
		break
	}
	cs.imageSizes[id] = n
	return n, nil
}
