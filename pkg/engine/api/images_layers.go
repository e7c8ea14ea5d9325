package api

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/images"
)

// imageLayer is one layer of a stored image, as disk usage counts it.
type imageLayer struct {
	chain string
	// unpacked is the snapshot's own usage; -1 when the supervisor reports
	// none (no snapshot, or no Usage).
	unpacked int64
	// blob and blobSize are the compressed layer of the manifest ("" and 0
	// when the manifest is not readable).
	blob     string
	blobSize int64
}

// storedImage is what layerUsage learned of one image.
type storedImage struct {
	cfg *ocispec.Image
	// manifest is the platform manifest, or the target when that could not
	// be read (manifestRead false).
	manifest     ocispec.Descriptor
	manifestRead bool
	config       ocispec.Descriptor
	layers       []imageLayer
}

// layerUsage is the layers of every stored image and how many images hold
// each: system df and the image list's shared-size and manifests all need
// it, and sharing is only known by looking at all images.
type layerUsage struct {
	images map[string]*storedImage // by image ID
	users  map[string]int          // images per chain ID
	// blobs are the content store's blob sizes by digest (what is present
	// locally); empty when the supervisor cannot list content.
	blobs map[string]int64
}

// layerUsage reads the configs, manifests and snapshot usage of the images
// of groups. An image whose config is unreadable is left out: without
// its diff IDs its layers are unknown.
func (s *Server) layerUsage(ctx context.Context, be images.Backend, groups map[string][]*client.Image) *layerUsage {
	lu := &layerUsage{images: map[string]*storedImage{}, users: map[string]int{}, blobs: map[string]int64{}}
	if cu, ok := be.(images.ContentUsage); ok {
		if b, err := cu.ContentSizes(ctx); err == nil {
			lu.blobs = b
		} else {
			s.log.Debug("listing content sizes", "err", err)
		}
	}
	for id, group := range groups {
		img := group[0]
		cfg, err := s.d.Supervisor().ImageConfig(ctx, img)
		if err != nil {
			s.log.Debug("layer usage: image config", "image", img.GetName(), "err", err)
			continue
		}
		si := &storedImage{cfg: cfg}
		c := img.GetConfig()
		si.config = ocispec.Descriptor{MediaType: c.GetMediaType(), Digest: digest.Digest(c.GetDigest()), Size: c.GetSize()}
		var layers []ocispec.Descriptor
		desc, m, err := images.PlatformManifest(ctx, be, img)
		si.manifest = desc
		if err == nil {
			si.manifestRead, layers = true, m.Layers
		} else {
			s.log.Debug("layer usage: manifest", "image", img.GetName(), "err", err)
		}
		for i, chain := range images.ChainIDs(cfg) {
			l := imageLayer{chain: chain, unpacked: -1}
			if n, err := be.Usage(ctx, chain); err == nil {
				l.unpacked = n
			}
			if i < len(layers) {
				l.blob, l.blobSize = layers[i].Digest.String(), layers[i].Size
			}
			si.layers = append(si.layers, l)
			lu.users[chain]++
		}
		lu.images[id] = si
	}
	return lu
}

// sharedBlobSize is the compressed size of id's layers that other images
// hold too: the measure of the image list's Size (the supervisor's sum of
// compressed blobs), so that Size - SharedSize is what the image alone
// costs.
func (lu *layerUsage) sharedBlobSize(id string) (int64, bool) {
	si, ok := lu.images[id]
	if !ok {
		return 0, false
	}
	var n int64
	for _, l := range si.layers {
		if lu.users[l.chain] > 1 {
			n += l.blobSize
		}
	}
	return n, true
}
