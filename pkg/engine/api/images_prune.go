package api

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
)

var pruneFilterKeys = map[string]bool{"dangling": true, "until": true, "label": true, "label!": true}

// dangling: an image ID with no name, only digests.
func dangling(group []*client.Image) bool {
	for _, img := range group {
		if familiar(img.GetName()) != "" {
			return false
		}
	}
	return true
}

// untilTime reads an "until"-style filter time (see filterTime).
func untilTime(v string) (time.Time, error) { return filterTime(v, time.Now()) }

// noneOfLabels: no "label!" filter (key or key=value) matches.
func (f filters) noneOfLabels(labels map[string]string) bool {
	for _, v := range f["label!"] {
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := labels[k]
		if ok && (!hasVal || got == val) {
			return false
		}
	}
	return true
}

// imagesPrune is POST /images/prune: unused images (only dangling ones
// unless dangling=false), then garbage collection in the supervisor for the
// space that frees.
func (s *Server) imagesPrune(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.validate(pruneFilterKeys)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	onlyDangling := true
	for _, v := range f["dangling"] {
		onlyDangling = !(v == "false" || v == "0")
	}
	var until time.Time
	if vs := f["until"]; len(vs) > 0 {
		if until, err = untilTime(vs[0]); err != nil {
			writeError(w, err)
			return
		}
	}
	ctx := r.Context()
	all, err := s.d.Supervisor().ListImages(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	used := map[string]bool{}
	for _, c := range s.d.List(true, 0) {
		used[c.ImageID] = true
	}
	resp := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	groups := groupImages(all)
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		group := groups[id]
		if used[id] || onlyDangling && !dangling(group) {
			continue
		}
		if !s.pruneMatches(ctx, group[0], f, until) {
			continue
		}
		var deleted []image.DeleteResponse
		for _, img := range group {
			if err := s.d.Supervisor().DeleteImage(ctx, img.GetName()); err != nil && !errdefs.IsNotFound(err) {
				writeError(w, err)
				return
			}
			if fam := familiar(img.GetName()); fam != "" {
				deleted = append(deleted, image.DeleteResponse{Untagged: fam})
				s.d.EmitImage(ctx, events.ActionUnTag, id, id, img)
			}
		}
		resp.ImagesDeleted = append(resp.ImagesDeleted, append(deleted, image.DeleteResponse{Deleted: id})...)
		s.d.EmitImage(ctx, events.ActionDelete, id, id, nil)
	}
	if be, err := s.imageBackend(); err == nil {
		n, err := s.collect(ctx, be)
		if err != nil {
			s.log.Warn("image prune: garbage collection", "err", err)
		}
		resp.SpaceReclaimed = uint64(max(n, 0))
	}
	s.d.EmitPrune(events.ImageEventType, resp.SpaceReclaimed)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) pruneMatches(ctx context.Context, img *client.Image, f filters, until time.Time) bool {
	if len(f["label"]) == 0 && len(f["label!"]) == 0 && until.IsZero() {
		return true
	}
	cfg, err := s.d.Supervisor().ImageConfig(ctx, img)
	if err != nil {
		return false
	}
	if !until.IsZero() && (cfg.Created == nil || !cfg.Created.Before(until)) {
		return false
	}
	return f.allLabels(cfg.Config.Labels) && f.noneOfLabels(cfg.Config.Labels)
}
