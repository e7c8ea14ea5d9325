package images

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
)

// ChainIDs are the snapshot names of an image's layers, bottom first:
// chain(0) = diff(0), chain(n) = sha256(chain(n-1) + " " + diff(n)).
func ChainIDs(cfg *ocispec.Image) []string {
	var out []string
	for i, d := range cfg.RootFS.DiffIDs {
		if i == 0 {
			out = append(out, d.String())
			continue
		}
		out = append(out, fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(out[i-1]+" "+d.String()))))
	}
	return out
}

// LayerSizes returns the size of each layer of img, bottom first: the
// snapshot's own disk usage when the supervisor reports it (what dockerd
// shows, unpacked), else the compressed size from the manifest.
func LayerSizes(ctx context.Context, be Backend, img *client.Image, cfg *ocispec.Image) ([]int64, error) {
	chain := ChainIDs(cfg)
	sizes := make([]int64, len(chain))
	ok := true
	for i, c := range chain {
		n, err := be.Usage(ctx, c)
		if err != nil {
			ok = false
			break
		}
		sizes[i] = n
	}
	if ok {
		return sizes, nil
	}
	m, err := ManifestOf(ctx, be, img)
	if err != nil {
		return nil, err
	}
	for i := range sizes {
		if i < len(m.Layers) {
			sizes[i] = m.Layers[i].Size
		}
	}
	return sizes, nil
}

// BlobReader reads blobs of the content store.
type BlobReader interface {
	ReadBlob(ctx context.Context, digest string) ([]byte, error)
}

// ManifestOf finds the manifest of img's platform: the target itself, or
// the entry of the target index whose config is img's config.
func ManifestOf(ctx context.Context, be BlobReader, img *client.Image) (*ocispec.Manifest, error) {
	_, m, err := PlatformManifest(ctx, be, img)
	return m, err
}

// PlatformManifest is ManifestOf with the manifest's descriptor: the
// target's, or the index entry's (which carries the platform).
func PlatformManifest(ctx context.Context, be BlobReader, img *client.Image) (ocispec.Descriptor, *ocispec.Manifest, error) {
	t := img.GetTarget()
	top := ocispec.Descriptor{MediaType: t.GetMediaType(), Digest: digest.Digest(t.GetDigest()), Size: t.GetSize()}
	data, err := be.ReadBlob(ctx, t.GetDigest())
	if err != nil {
		return top, nil, err
	}
	var probe struct {
		ocispec.Manifest
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return top, nil, fmt.Errorf("decode manifest %s: %w", t.GetDigest(), err)
	}
	if len(probe.Manifests) == 0 {
		if top.MediaType == "" {
			top.MediaType = probe.MediaType
		}
		if top.Size == 0 {
			top.Size = int64(len(data))
		}
		return top, &probe.Manifest, nil
	}
	for _, d := range probe.Manifests {
		b, err := be.ReadBlob(ctx, d.Digest.String())
		if err != nil {
			continue // other platforms are usually not fetched
		}
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) == nil && m.Config.Digest.String() == img.GetConfig().GetDigest() {
			return d, &m, nil
		}
	}
	return top, nil, fmt.Errorf("no manifest of index %s has config %s", t.GetDigest(), img.GetConfig().GetDigest())
}
