package api

import (
	"context"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
)

// intermediateImages finds the untagged images another image is built on
// (a build's steps): `docker images` without -a hides them, as dockerd
// hides images that have children. A child's history and layers start
// with all of its parent's and go on.
func (s *Server) intermediateImages(ctx context.Context, groups map[string][]*client.Image, tagged map[string]bool) map[string]bool {
	cfgs := map[string]*ocispec.Image{}
	for id, g := range groups {
		if cfg, err := s.d.Supervisor().ImageConfig(ctx, g[0]); err == nil {
			cfgs[id] = cfg
		}
	}
	out := map[string]bool{}
	for id, p := range cfgs {
		if tagged[id] || len(p.History) == 0 {
			continue
		}
		for cid, c := range cfgs {
			if cid != id && isChildOf(c, p) {
				out[id] = true
				break
			}
		}
	}
	return out
}

func isChildOf(c, p *ocispec.Image) bool {
	if len(c.History) <= len(p.History) || len(c.RootFS.DiffIDs) < len(p.RootFS.DiffIDs) {
		return false
	}
	for i, h := range p.History {
		ch := c.History[i]
		if h.CreatedBy != ch.CreatedBy || h.EmptyLayer != ch.EmptyLayer || h.Comment != ch.Comment ||
			(h.Created == nil) != (ch.Created == nil) || h.Created != nil && !h.Created.Equal(*ch.Created) {
			return false
		}
	}
	for i, d := range p.RootFS.DiffIDs {
		if c.RootFS.DiffIDs[i] != d {
			return false
		}
	}
	return true
}

// historyAncestor is a local image whose history and layers the image
// being shown starts with: dockerd names such parents in `docker history`
// (a build's steps), so two images built from the same start show the
// same IDs for their shared steps.
type historyAncestor struct {
	id   string
	tags []string
}

// historyAncestors maps the index (oldest first) of cfg's history entry
// that ends an ancestor's history to that ancestor.
func (s *Server) historyAncestors(ctx context.Context, self string, cfg *ocispec.Image) map[int]historyAncestor {
	all, err := s.d.Supervisor().ListImages(ctx)
	if err != nil {
		return nil
	}
	out := map[int]historyAncestor{}
	for id, g := range groupImages(all) {
		if id == self {
			continue
		}
		p, err := s.d.Supervisor().ImageConfig(ctx, g[0])
		if err != nil || len(p.History) == 0 || !isChildOf(cfg, p) {
			continue
		}
		at := len(p.History) - 1
		if prev, ok := out[at]; ok && prev.id < id {
			continue
		}
		a := historyAncestor{id: id, tags: []string{}}
		for _, img := range g {
			if f := familiar(img.GetName()); f != "" {
				a.tags = append(a.tags, f)
			}
		}
		sort.Strings(a.tags)
		out[at] = a
	}
	return out
}
