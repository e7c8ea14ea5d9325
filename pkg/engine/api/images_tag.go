package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/images"
)

// imagePost routes POST /images/NAME/{tag,push}: names may contain slashes.
func (s *Server) imagePost(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("name")
	if name, ok := strings.CutSuffix(p, "/tag"); ok {
		s.imageTag(w, r, name)
		return
	}
	if name, ok := strings.CutSuffix(p, "/push"); ok {
		s.imagePush(w, r, name)
		return
	}
	writeError(w, &httpError{status: http.StatusNotFound, msg: "page not found"})
}

// imageTag is POST /images/{name}/tag?repo=&tag=: 201 and no body, as dockerd.
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) {
	id, group, err := s.resolveImage(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	named, err := reference.ParseNormalizedNamed(q.Get("repo"))
	if err != nil {
		writeError(w, badRequest("invalid reference format: %s", q.Get("repo")))
		return
	}
	if _, ok := named.(reference.Canonical); ok {
		writeError(w, badRequest("refusing to create a tag with a digest reference"))
		return
	}
	if tag := q.Get("tag"); tag != "" {
		if named, err = reference.WithTag(reference.TrimNamed(named), tag); err != nil {
			writeError(w, badRequest("invalid tag format: %s", tag))
			return
		}
	}
	named = reference.TagNameOnly(named)
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	if err := be.Tag(r.Context(), named.String(), group[0]); err != nil {
		writeError(w, err)
		return
	}
	s.d.EmitImage(r.Context(), events.ActionTag, id, reference.FamiliarString(named), group[0])
	w.WriteHeader(http.StatusCreated)
}

// imageHistory is GET /images/{name}/history: the config's history, newest
// first, each entry that made a layer with that layer's size.
func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) {
	platform, err := queryPlatform(r, "platform", "1.48")
	if err != nil {
		writeError(w, err)
		return
	}
	id, group, err := s.resolveImage(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if platform != nil {
		if err := s.checkImagePlatforms(r.Context(), name, group[0], []ocispec.Platform{*platform}); err != nil {
			writeError(w, err)
			return
		}
	}
	cfg, err := s.d.Supervisor().ImageConfig(r.Context(), group[0])
	if err != nil {
		writeError(w, err)
		return
	}
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	sizes, err := images.LayerSizes(r.Context(), be, group[0], cfg)
	if err != nil {
		s.log.Warn("history: layer sizes", "image", id, "err", err)
		sizes = make([]int64, len(cfg.RootFS.DiffIDs))
	}
	var out []image.HistoryResponseItem
	layer := 0
	for _, h := range cfg.History {
		item := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer {
			if layer < len(sizes) {
				item.Size = sizes[layer]
			}
			layer++
		}
		out = append(out, item)
	}
	for at, a := range s.historyAncestors(r.Context(), id, cfg) {
		out[at].ID, out[at].Tags = a.id, a.tags
	}
	if len(cfg.History) == 0 {
		// An image without history (some importers write none): one entry
		// per layer, so sizes still add up.
		for _, size := range sizes {
			item := image.HistoryResponseItem{ID: "<missing>", Size: size, Tags: []string{}}
			if cfg.Created != nil {
				item.Created = cfg.Created.Unix()
			}
			out = append(out, item)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = id
		for _, img := range group {
			if f := familiar(img.GetName()); f != "" {
				out[0].Tags = append(out[0].Tags, f)
			}
		}
		sort.Strings(out[0].Tags)
	}
	if out == nil {
		out = []image.HistoryResponseItem{}
	}
	writeJSON(w, http.StatusOK, out)
}
