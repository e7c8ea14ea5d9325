package build

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// copyLink makes the layer of a COPY --link or ADD --link step as BuildKit
// does: the files are written into an empty filesystem, so the layer is
// its content alone, whatever the stage's image holds (a destination
// below a symlinked directory of the image is a real directory in the
// layer, as BuildKit documents). The layer is then put on the stage's
// image. Its cache key is its content (sum) alone: when an earlier step
// changes, the same layer blob is put on the new parent instead of the
// files being copied again.
func (j *job) copyLink(ctx context.Context, st *stageState, name, key, createdBy, sum string, spool io.Reader) error {
	lkey := linkKey(sum)
	entry := &supervisorv1.HistoryEntry{Created: time.Now().UnixNano(), CreatedBy: createdBy}
	if id, ok := j.cacheHit(ctx, lkey); ok {
		if layer, err := j.topLayer(ctx, id); err == nil {
			j.out.printf(" ---> Using cache\n")
			newID, err := j.putLayer(ctx, st, entry, layer)
			if err != nil {
				return err
			}
			j.stepDone(st, key, newID)
			return nil
		}
	}
	layer, cleanup, err := j.linkLayer(ctx, st, name, entry, spool)
	defer cleanup()
	if err != nil {
		return err
	}
	newID, err := j.putLayer(ctx, st, entry, layer)
	if err != nil {
		return err
	}
	j.remember(lkey, newID)
	j.stepDone(st, key, newID)
	return nil
}

// linkKey is the cache key of a --link layer: the digest of its content
// alone. It names an image whose top layer it is.
func linkKey(sum string) string { return chainKey("link", "", nil, sum) }

// linkLayer applies spool to a container of an image without layers and
// commits it: the layer is the diff against nothing. The images it
// makes for that are removed by cleanup (which the caller always runs),
// once the layer is in the step's image; the layer's blob is kept by it.
func (j *job) linkLayer(ctx context.Context, st *stageState, name string, entry *supervisorv1.HistoryEntry, spool io.Reader) (*supervisorv1.ComposeLayer, func(), error) {
	var tmpImages []string
	cid := ""
	cleanup := func() {
		if cid != "" {
			j.removeContainer(cid)
		}
		for _, id := range tmpImages {
			if err := j.b.D.Supervisor().DeleteImage(context.WithoutCancel(ctx), id); err != nil && j.b.Log != nil {
				j.b.Log.Warn("build: remove the image of a --link layer", "id", id, "err", err)
			}
		}
	}
	empty, err := j.b.D.ComposeImage(ctx, "", st.image(), nil, "")
	if err != nil {
		return nil, cleanup, err
	}
	tmpImages = append(tmpImages, empty)
	c, err := j.b.D.Create(ctx, containers.CreateOptions{
		Config:      &container.Config{Image: empty, Cmd: []string{"/bin/sh", "-c", "#(nop) COPY --link"}, Entrypoint: []string{}, Labels: map[string]string{stepLabel: strings.ToLower(name)}},
		HostConfig:  &container.HostConfig{NetworkMode: "none"},
		NoTaskAhead: true,
	})
	if err != nil {
		return nil, cleanup, err
	}
	cid = c.ID
	if err := j.b.D.ApplyArchive(ctx, cid, spool); err != nil {
		return nil, cleanup, fmt.Errorf("%s: %w", name, err)
	}
	l, err := j.b.D.CommitStep(ctx, cid, empty, st.image(), nil, &supervisorv1.HistoryEntry{Created: entry.Created, CreatedBy: entry.CreatedBy})
	if err != nil {
		return nil, cleanup, err
	}
	tmpImages = append([]string{l}, tmpImages...)
	layer, err := j.topLayer(ctx, l)
	return layer, cleanup, err
}

// putLayer makes the step's image: the stage's image, its pending
// metadata entries and the layer.
func (j *job) putLayer(ctx context.Context, st *stageState, entry *supervisorv1.HistoryEntry, layer *supervisorv1.ComposeLayer) (string, error) {
	var entries []*supervisorv1.HistoryEntry
	for _, p := range st.pending {
		p.EmptyLayer = true
		entries = append(entries, p)
	}
	return j.b.D.ComposeLayers(ctx, st.imageID, st.image(), append(entries, entry), []*supervisorv1.ComposeLayer{layer})
}

// topLayer is the last layer of image id, as Compose takes it.
func (j *job) topLayer(ctx context.Context, id string) (*supervisorv1.ComposeLayer, error) {
	img, err := j.b.D.Supervisor().GetImage(ctx, id)
	if err != nil {
		return nil, err
	}
	cfg, err := j.b.D.Supervisor().DockerImageConfig(ctx, img)
	if err != nil {
		return nil, err
	}
	m, err := images.ManifestOf(ctx, j.b.Images, img)
	if err != nil {
		return nil, err
	}
	n := len(m.Layers)
	if n == 0 || n != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers, %d diff IDs", shortID(id), n, len(cfg.RootFS.DiffIDs))
	}
	return composeLayer(m.Layers[n-1], cfg.RootFS.DiffIDs[n-1]), nil
}

// composeLayer is a layer of the content store as Compose takes it.
func composeLayer(blob ocispec.Descriptor, diffID digest.Digest) *supervisorv1.ComposeLayer {
	return &supervisorv1.ComposeLayer{
		Blob:   &supervisorv1.Descriptor{MediaType: blob.MediaType, Digest: blob.Digest.String(), Size: blob.Size},
		DiffId: diffID.String(),
	}
}
