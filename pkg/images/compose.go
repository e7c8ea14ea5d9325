package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
)

// Layer is a layer blob in the content store and its diff ID.
type Layer struct {
	Blob   ocispec.Descriptor
	DiffID digest.Digest
}

// ComposeOptions say how Compose makes an image.
type ComposeOptions struct {
	// Base is the name or ID of the image extended; "" is scratch.
	Base   string
	Layers []Layer
	// Config is an OCI image config without rootfs and history.
	Config []byte
	// History has one entry without EmptyLayer per layer; none makes one
	// per layer.
	History []ocispec.History
	// Name is recorded; "" records the image under its ID.
	Name string
}

// Compose makes an image of a base image, new layers and a config (what a
// commit and each step of a build do), unpacks its layers so that it runs
// at once, and records it. The caller keeps the layer blobs from garbage
// collection (a lease) until Compose returns.
func (s *Store) Compose(ctx context.Context, o ComposeOptions) (Image, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(o.Config, &raw); err != nil {
		return Image{}, fmt.Errorf("compose: config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for _, k := range []string{"rootfs", "history"} {
		if _, ok := raw[k]; ok {
			return Image{}, fmt.Errorf("compose: config has %q: Compose makes it: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	// Docker's form: Healthcheck, OnBuild and Shell of the config are
	// kept (an OCI image config has no such fields).
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(o.Config, &cfg); err != nil {
		return Image{}, fmt.Errorf("compose: config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	name := ""
	if o.Name != "" {
		n, err := Normalize(o.Name)
		if err != nil {
			return Image{}, err
		}
		name = n
	}
	nonEmpty := 0
	for _, h := range o.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if len(o.History) > 0 && nonEmpty != len(o.Layers) {
		return Image{}, fmt.Errorf("compose: %d history entries with a layer for %d layers: %w", nonEmpty, len(o.Layers), errdefs.ErrInvalidArgument)
	}

	var layers []ocispec.Descriptor
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}
	if o.Base != "" {
		base, err := s.Get(ctx, o.Base)
		if err != nil {
			return Image{}, fmt.Errorf("compose: base: %w", err)
		}
		_, lm, err := s.exportTarget(ctx, base)
		if err != nil {
			return Image{}, fmt.Errorf("compose: base %s: %w", o.Base, err)
		}
		var bcfg ocispec.Image
		b, err := s.content.ReadAll(ctx, base.Config.Digest, maxJSON)
		if err != nil {
			return Image{}, fmt.Errorf("compose: base %s: %w", o.Base, err)
		}
		if err := json.Unmarshal(b, &bcfg); err != nil {
			return Image{}, fmt.Errorf("compose: base %s config: %v: %w", o.Base, err, errdefs.ErrInvalidArgument)
		}
		if len(bcfg.RootFS.DiffIDs) != len(lm.m.Layers) {
			return Image{}, fmt.Errorf("compose: base %s has %d layers and %d diff IDs: %w", o.Base, len(lm.m.Layers), len(bcfg.RootFS.DiffIDs), errdefs.ErrFailedPrecondition)
		}
		layers = append(layers, lm.m.Layers...)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, bcfg.RootFS.DiffIDs...)
		cfg.History = append(cfg.History, bcfg.History...)
		if cfg.OS == "" {
			cfg.OS, cfg.Architecture, cfg.Variant = bcfg.OS, bcfg.Architecture, bcfg.Variant
		}
	}
	if cfg.OS == "" {
		cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	}
	now := time.Now().UTC()
	if cfg.Created == nil {
		cfg.Created = &now
	}
	for _, l := range o.Layers {
		if err := content.CheckDigest(l.Blob.Digest); err != nil {
			return Image{}, fmt.Errorf("compose: layer: %w", err)
		}
		if err := content.CheckDigest(l.DiffID); err != nil {
			return Image{}, fmt.Errorf("compose: layer %s diff ID: %w", l.Blob.Digest, err)
		}
		info, err := s.content.Info(ctx, l.Blob.Digest)
		if err != nil {
			return Image{}, fmt.Errorf("compose: layer %s: %w", l.Blob.Digest, err)
		}
		d := l.Blob
		d.Size = info.Size
		if d.MediaType == "" {
			d.MediaType = ocispec.MediaTypeImageLayerGzip
		}
		layers = append(layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	if len(o.History) == 0 {
		for range o.Layers {
			cfg.History = append(cfg.History, ocispec.History{Created: cfg.Created})
		}
	}
	for _, h := range o.History {
		if h.Created == nil {
			h.Created = cfg.Created
		}
		cfg.History = append(cfg.History, h)
	}
	// Unpacked before anything names the image: it must run when it shows.
	chain, err := s.Unpack(ctx, layers, cfg.RootFS.DiffIDs)
	if err != nil {
		return Image{}, fmt.Errorf("compose: %w", err)
	}
	cfgBytes, err := json.Marshal(cfg)
	if err != nil {
		return Image{}, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgBytes), Size: int64(len(cfgBytes))}
	if err := s.writeBlob(ctx, bytes.NewReader(cfgBytes), cfgDesc); err != nil {
		return Image{}, err
	}
	mf := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
	if mf.Layers == nil {
		mf.Layers = []ocispec.Descriptor{}
	}
	mfBytes, err := json.Marshal(mf)
	if err != nil {
		return Image{}, err
	}
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mfBytes), Size: int64(len(mfBytes))}
	if err := s.writeBlob(ctx, bytes.NewReader(mfBytes), target); err != nil {
		return Image{}, err
	}
	img := Image{Name: name, Target: target, Config: cfgDesc, ChainID: chain, Size: target.Size + cfgDesc.Size}
	for _, l := range layers {
		img.Size += l.Size
	}
	if img.Name == "" {
		img.Name = cfgDesc.Digest.String()
	}
	if err := s.record(ctx, []Image{img}); err != nil {
		return Image{}, err
	}
	return s.Get(ctx, img.Name)
}
