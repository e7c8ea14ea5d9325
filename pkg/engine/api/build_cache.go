package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	ebuild "github.com/berthd/berth/pkg/engine/build"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
)

// cacheImage is an image the build cache names (a step's result).
type cacheImage struct {
	id    string
	names []string
	cfg   *ocispec.Image
	uses  int
	// shared: tagged, used by a container, or another kept image is
	// built on it; `builder prune` keeps it (its entries are forgotten).
	shared bool
}

// buildCacheImages lists the images the build cache names that still
// exist, and tells which of them an image or container outside the cache
// needs.
func (s *Server) buildCacheImages(ctx context.Context, b *ebuild.Builder) ([]cacheImage, error) {
	all, err := s.d.Supervisor().ListImages(ctx)
	if err != nil {
		return nil, err
	}
	groups := groupImages(all)
	used := map[string]bool{}
	for _, c := range s.d.List(true, 0) {
		used[c.ImageID] = true
	}
	refs := b.Cache.Images()
	cfgs := map[string]*ocispec.Image{}
	for id, g := range groups {
		if cfg, err := s.d.Supervisor().ImageConfig(ctx, g[0]); err == nil {
			cfgs[id] = cfg
		}
	}
	// Kept: every image the cache does not name, tagged or used ones.
	var kept []*ocispec.Image
	for id, g := range groups {
		if refs[id] == 0 || used[id] || !dangling(g) {
			if cfg := cfgs[id]; cfg != nil {
				kept = append(kept, cfg)
			}
		}
	}
	var out []cacheImage
	for id, n := range refs {
		g, ok := groups[id]
		if !ok || cfgs[id] == nil {
			continue
		}
		ci := cacheImage{id: id, cfg: cfgs[id], uses: n, shared: used[id] || !dangling(g)}
		for _, img := range g {
			ci.names = append(ci.names, img.GetName())
		}
		for _, k := range kept {
			if !ci.shared && isChildOf(k, ci.cfg) {
				ci.shared = true
			}
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// buildCacheRecords is /system/df's BuildCache: a record per cached step
// image (its own last layer's size; Shared when prune would keep it) and
// per RUN --mount=type=cache volume.
func (s *Server) buildCacheRecords(ctx context.Context) []*build.CacheRecord {
	out := []*build.CacheRecord{}
	b, err := s.builder()
	if err != nil {
		return out
	}
	cached, err := s.buildCacheImages(ctx, b)
	if err != nil {
		s.log.Warn("df: build cache", "err", err)
		return out
	}
	be, err := s.imageBackend()
	if err != nil {
		return out
	}
	all, _ := s.d.Supervisor().ListImages(ctx)
	groups := groupImages(all)
	for _, ci := range cached {
		rec := &build.CacheRecord{ID: strings.TrimPrefix(ci.id, "sha256:"), Type: "regular", Shared: ci.shared, UsageCount: ci.uses}
		if h := ci.cfg.History; len(h) > 0 {
			rec.Description = h[len(h)-1].CreatedBy
			if !h[len(h)-1].EmptyLayer {
				if sizes, err := images.LayerSizes(ctx, be, groups[ci.id][0], ci.cfg); err == nil && len(sizes) > 0 {
					rec.Size = sizes[len(sizes)-1]
				}
			}
		}
		if ci.cfg.Created != nil {
			rec.CreatedAt = *ci.cfg.Created
			t := *ci.cfg.Created
			rec.LastUsedAt = &t
		}
		out = append(out, rec)
	}
	if vols := s.d.Volumes(); vols != nil {
		for _, v := range vols.List() {
			if !strings.HasPrefix(v.Name, ebuild.CacheVolumePrefix) {
				continue
			}
			rec := &build.CacheRecord{ID: v.Name, Type: "exec.cachemount", Description: "cached mount " + v.Labels[ebuild.CacheVolumeLabel],
				Size: max(vols.Size(v.Name), 0), InUse: len(s.d.VolumeUsers(v.Name)) > 0, CreatedAt: v.CreatedAt}
			out = append(out, rec)
		}
	}
	return out
}

// buildPrune is POST /build/prune (`docker builder prune`): the cache's
// entries are forgotten, the cached step images nothing else needs (not
// tagged, not used by a container, no kept image built on them) are
// removed with the RUN --mount=type=cache volumes not in use, and the
// space garbage collection frees is reported.
//
// all=1 (builder prune -a: not only the dangling entries) needs nothing
// more: every entry of this cache is a step's output no name refers to,
// which BuildKit would call dangling, so both prune the same set.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, name := range []string{"filters", "keep-storage", "reserved-space", "max-used-space", "min-free-space"} {
		if v := q.Get(name); v != "" && v != "0" && v != "{}" {
			writeError(w, badRequest("build prune: %s is not supported by this builder", name))
			return
		}
	}
	ctx := r.Context()
	b, err := s.builder()
	if err != nil {
		writeError(w, err)
		return
	}
	cached, err := s.buildCacheImages(ctx, b)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := b.Cache.Prune(); err != nil {
		writeError(w, fmt.Errorf("build prune: %w", err))
		return
	}
	report := build.CachePruneReport{CachesDeleted: []string{}}
	for _, ci := range cached {
		if ci.shared {
			continue
		}
		for _, name := range ci.names {
			if err := s.d.Supervisor().DeleteImage(ctx, name); err != nil && !errdefs.IsNotFound(err) {
				writeError(w, err)
				return
			}
		}
		report.CachesDeleted = append(report.CachesDeleted, strings.TrimPrefix(ci.id, "sha256:"))
	}
	var freed int64
	if vols := s.d.Volumes(); vols != nil {
		for _, v := range vols.List() {
			if !strings.HasPrefix(v.Name, ebuild.CacheVolumePrefix) {
				continue
			}
			size := vols.Size(v.Name)
			if err := s.d.RemoveVolume(v.Name, false); err == nil {
				report.CachesDeleted = append(report.CachesDeleted, v.Name)
				freed += max(size, 0)
			}
		}
	}
	if be, err := s.imageBackend(); err == nil && len(report.CachesDeleted) > 0 {
		n, err := s.collect(ctx, be)
		if err != nil {
			s.log.Warn("build prune: garbage collection", "err", err)
		}
		freed += max(n, 0)
	}
	report.SpaceReclaimed = uint64(freed)
	s.d.EmitPrune(events.BuilderEventType, report.SpaceReclaimed)
	writeJSON(w, http.StatusOK, report)
}
