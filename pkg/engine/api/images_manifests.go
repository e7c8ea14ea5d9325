package api

import (
	"context"
	"fmt"
	"sort"

	"github.com/moby/moby/api/types/image"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

// listExtras are the image list's optional parts, costly enough (every
// image's manifest and snapshot usage, the content store) that dockerd too
// computes them only on request.
type listExtras struct {
	sharedSize, manifests, identity bool
}

func (x listExtras) any() bool { return x.sharedSize || x.manifests }

// fillListExtras sets SharedSize and Manifests of the summaries in out;
// groups are all stored images, since sharing is between any of them.
func (s *Server) fillListExtras(ctx context.Context, out []image.Summary, groups map[string][]*client.Image, x listExtras) error {
	be, err := s.imageBackend()
	if err != nil {
		return err
	}
	var labels images.ContentLabels
	if x.identity {
		var ok bool
		if labels, ok = be.(images.ContentLabels); !ok {
			return fmt.Errorf("images list: identity=1 is not supported: the supervisor does not report where content came from: %w", errdefs.ErrNotImplemented)
		}
	}
	lu := s.layerUsage(ctx, be, groups)
	var manifests map[string][]image.ManifestSummary
	if x.manifests {
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		if manifests, err = s.manifestSummaries(ctx, lu, ids, labels); err != nil {
			return fmt.Errorf("images list: %w", err)
		}
	}
	for i := range out {
		if n, ok := lu.sharedBlobSize(out[i].ID); x.sharedSize && ok {
			out[i].SharedSize = n
		}
		out[i].Manifests = manifests[out[i].ID]
	}
	return nil
}

// inspectManifests is image inspect's Manifests (manifests=1) of image id,
// whose names are group: what the image list gives it.
func (s *Server) inspectManifests(ctx context.Context, id string, group []*client.Image) ([]image.ManifestSummary, error) {
	be, err := s.imageBackend()
	if err != nil {
		return nil, err
	}
	lu := s.layerUsage(ctx, be, map[string][]*client.Image{id: group})
	ms, err := s.manifestSummaries(ctx, lu, []string{id}, nil)
	if err != nil {
		return nil, fmt.Errorf("image inspect: %w", err)
	}
	return ms[id], nil
}

// manifestSummaries are the Manifests of the images ids, by image ID, for
// the image list and image inspect alike: the one platform manifest berth
// stores for an image, with the containers using it. An image lu could not
// read (no config) has none.
func (s *Server) manifestSummaries(ctx context.Context, lu *layerUsage, ids []string, labels images.ContentLabels) (map[string][]image.ManifestSummary, error) {
	users := map[string][]string{}
	for _, c := range s.d.List(true, 0) {
		users[c.ImageID] = append(users[c.ImageID], c.ID)
	}
	out := map[string][]image.ManifestSummary{}
	for _, id := range ids {
		si, ok := lu.images[id]
		if !ok {
			continue
		}
		ms, err := lu.manifestSummary(ctx, si, users[id], labels)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", id, err)
		}
		out[id] = []image.ManifestSummary{ms}
	}
	return out, nil
}

// manifestSummary describes the one platform manifest berth stores for an
// image. Content counts what the content store holds of it (the manifest,
// config and layer blobs), Unpacked its layers' snapshots; labels, when
// set, give the identity from the config blob's distribution sources,
// which only pulls and pushes write.
func (lu *layerUsage) manifestSummary(ctx context.Context, si *storedImage, containers []string, labels images.ContentLabels) (image.ManifestSummary, error) {
	ms := image.ManifestSummary{ID: si.manifest.Digest.String(), Descriptor: si.manifest, Kind: image.ManifestKindImage}
	platform := platforms.OfConfig(si.cfg)
	if ms.Descriptor.Platform == nil {
		ms.Descriptor.Platform = &platform
	}
	data := &image.ImageProperties{Platform: platform, Containers: append([]string{}, containers...)}
	sort.Strings(data.Containers)
	present := func(d string) bool {
		n, ok := lu.blobs[d]
		if ok {
			ms.Size.Content += n
		}
		return ok
	}
	ms.Available = present(si.manifest.Digest.String()) && si.manifestRead
	ms.Available = present(si.config.Digest.String()) && ms.Available
	for _, l := range si.layers {
		ms.Available = l.blob != "" && present(l.blob) && ms.Available
		if l.unpacked > 0 {
			data.Size.Unpacked += l.unpacked
		}
	}
	ms.Size.Total = ms.Size.Content + data.Size.Unpacked
	if labels != nil {
		got, err := labels.BlobLabels(ctx, si.config.Digest.String())
		if err != nil && !errdefs.IsNotFound(err) {
			return ms, fmt.Errorf("identity: %w", err)
		}
		// A config without sources was built, committed or loaded here:
		// its identity is known to be empty.
		data.Identity = &image.Identity{}
		for _, repo := range images.SourceRepositories(got) {
			data.Identity.Pull = append(data.Identity.Pull, image.PullIdentity{Repository: repo})
		}
	}
	ms.ImageData = data
	return ms, nil
}
