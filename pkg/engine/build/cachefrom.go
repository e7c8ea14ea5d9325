package build

import (
	"context"
	"encoding/json"
	"fmt"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// cacheSource is an image given with --cache-from. As in dockerd's classic
// builder (moby's image/cache), a step is taken from it when the stage's
// image is a prefix of it (the same history entries and layers) and its
// next history entries are the step's: the metadata steps' `#(nop)`
// lines, then the step's own created_by (a RUN's command with its build
// args, a COPY's content hash). Nothing else of the Dockerfile is
// compared, so created_by must say everything that makes the layer.
type cacheSource struct {
	id      string
	img     *dockerspec.DockerOCIImage
	layers  []ocispec.Descriptor
	history []ocispec.History
	diffIDs []digest.Digest
}

// loadCacheSources reads the --cache-from images. One that is not here
// is skipped with a warning, as dockerd skips it (the classic builder
// does not pull them).
func (j *job) loadCacheSources(ctx context.Context) ([]*cacheSource, error) {
	var out []*cacheSource
	for _, ref := range j.o.CacheFrom {
		name, _, err := containers.NormalizeImageRef(ref)
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", ref, err)
		}
		img, err := j.b.D.Supervisor().GetImage(ctx, name)
		if errdefs.IsNotFound(err) {
			j.out.printf("[Warning] cache-from image %s not found: not used\n", ref)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", ref, err)
		}
		cfg, err := j.b.D.Supervisor().DockerImageConfig(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", ref, err)
		}
		m, err := images.ManifestOf(ctx, j.b.Images, img)
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", ref, err)
		}
		if n := layerEntries(cfg.History); len(m.Layers) != len(cfg.RootFS.DiffIDs) || n != len(m.Layers) {
			j.out.printf("[Warning] cache-from image %s has %d layers, %d diff IDs and %d history entries with a layer: not used\n", ref, len(m.Layers), len(cfg.RootFS.DiffIDs), n)
			continue
		}
		out = append(out, &cacheSource{id: img.GetConfig().GetDigest(), img: cfg, layers: m.Layers, history: cfg.History, diffIDs: cfg.RootFS.DiffIDs})
	}
	return out, nil
}

// chainOf returns the history and diff IDs of image id ("": scratch,
// none).
func (j *job) chainOf(ctx context.Context, id string) ([]ocispec.History, []digest.Digest, error) {
	if id == "" {
		return nil, nil, nil
	}
	img, err := j.b.D.Supervisor().GetImage(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := j.b.D.Supervisor().DockerImageConfig(ctx, img)
	if err != nil {
		return nil, nil, err
	}
	return cfg.History, cfg.RootFS.DiffIDs, nil
}

// layerEntries counts the history entries that made a layer.
func layerEntries(h []ocispec.History) int {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	return n
}

// extends tells whether the image of history h and diff IDs d is a
// prefix of s (dockerd's isValidParent).
func (s *cacheSource) extends(h []ocispec.History, d []digest.Digest) bool {
	// The entries and layers must pair up, so that the step's layer is
	// the one after d.
	if len(h) > len(s.history) || len(d) > len(s.diffIDs) || layerEntries(h) != len(d) {
		return false
	}
	for i := range h {
		if !sameHistory(h[i], s.history[i]) {
			return false
		}
	}
	for i := range d {
		if d[i] != s.diffIDs[i] {
			return false
		}
	}
	return true
}

func sameHistory(a, b ocispec.History) bool {
	if a.CreatedBy != b.CreatedBy || a.Author != b.Author || a.Comment != b.Comment || a.EmptyLayer != b.EmptyLayer {
		return false
	}
	if a.Created == nil || b.Created == nil {
		return a.Created == b.Created
	}
	return a.Created.Equal(*b.Created)
}

// sourceMatch is a step found in a cache source: its history entries
// from first (the stage image's length) to last (the step's own).
type sourceMatch struct {
	s           *cacheSource
	first, last int
	layer       int // index of the step's layer in s, -1 for none
}

// matchSource looks for the stage's pending metadata entries followed by
// createdBy (a step with a layer when layer is set; "" for none: the
// pending entries alone) in the cache sources, after the stage's image.
// Only while every step of the stage so far came from a cache, as the
// local cache.
func (j *job) matchSource(ctx context.Context, st *stageState, createdBy string, layer bool) (*sourceMatch, error) {
	if len(j.sources) == 0 || j.o.NoCache || !st.cached {
		return nil, nil
	}
	h, d, err := j.chainOf(ctx, st.imageID)
	if err != nil {
		return nil, err
	}
	want := make([]ocispec.History, 0, len(st.pending)+1)
	for _, p := range st.pending {
		want = append(want, ocispec.History{CreatedBy: p.CreatedBy, EmptyLayer: true})
	}
	if createdBy != "" {
		want = append(want, ocispec.History{CreatedBy: createdBy, EmptyLayer: !layer})
	}
	for _, s := range j.sources {
		if !s.extends(h, d) || len(h)+len(want) > len(s.history) {
			continue
		}
		ok := true
		for i, w := range want {
			e := s.history[len(h)+i]
			if e.CreatedBy != w.CreatedBy || e.EmptyLayer != w.EmptyLayer {
				ok = false
				break
			}
		}
		if !ok || layer && len(d) >= len(s.diffIDs) {
			continue
		}
		m := &sourceMatch{s: s, first: len(h), last: len(h) + len(want) - 1, layer: -1}
		if layer {
			m.layer = len(d)
		}
		return m, nil
	}
	return nil, nil
}

// image returns the image of a matched step: the source itself when the
// step is its last and the stage's config is the source's (the very
// image of the earlier build), else an image composed of the stage's
// image, the source's entries and layer, and the stage's config
// (dockerd's restoreCachedImage).
func (j *job) sourceImage(ctx context.Context, st *stageState, m *sourceMatch) (string, error) {
	wantLayers := m.layer + 1
	if m.layer < 0 {
		_, d, err := j.chainOf(ctx, st.imageID)
		if err != nil {
			return "", err
		}
		wantLayers = len(d)
	}
	if m.last == len(m.s.history)-1 && wantLayers == len(m.s.diffIDs) && sameConfig(st.img, m.s.img) {
		return m.s.id, nil
	}
	var entries []*supervisorv1.HistoryEntry
	for _, e := range m.s.history[m.first : m.last+1] {
		he := &supervisorv1.HistoryEntry{CreatedBy: e.CreatedBy, Author: e.Author, Comment: e.Comment, EmptyLayer: e.EmptyLayer}
		if e.Created != nil {
			he.Created = e.Created.UnixNano()
		}
		entries = append(entries, he)
	}
	var layers []*supervisorv1.ComposeLayer
	if m.layer >= 0 {
		layers = append(layers, composeLayer(m.s.layers[m.layer], m.s.diffIDs[m.layer]))
	}
	// Created is the step's, as dockerd makes it: the same step taken
	// again is the same image.
	img := st.image()
	if c := m.s.history[m.last].Created; c != nil {
		img.Created = c
	}
	return j.b.D.ComposeLayers(ctx, st.imageID, img, entries, layers)
}

// sameConfig tells whether two images have the same config and author
// (what the Dockerfile sets besides history and layers).
func sameConfig(a dockerspec.DockerOCIImage, b *dockerspec.DockerOCIImage) bool {
	ja, err1 := json.Marshal(a.Config)
	jb, err2 := json.Marshal(b.Config)
	return err1 == nil && err2 == nil && string(ja) == string(jb) && a.Author == b.Author
}

// hitSource takes a layer step from a cache source, recording it in the
// local cache under key.
func (j *job) hitSource(ctx context.Context, st *stageState, key, createdBy string) (bool, error) {
	m, err := j.matchSource(ctx, st, createdBy, true)
	if err != nil || m == nil {
		return false, err
	}
	id, err := j.sourceImage(ctx, st, m)
	if err != nil {
		return false, fmt.Errorf("cache-from %s: %w", shortID(m.s.id), err)
	}
	j.out.printf(" ---> Using cache\n")
	j.stepDone(st, key, id)
	return true, nil
}
