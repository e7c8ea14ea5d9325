package api

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
)

var containerPruneFilterKeys = map[string]bool{"until": true, "label": true, "label!": true}

// containerPrune is POST /containers/prune: the stopped containers created
// before `until` whose labels match, with their snapshots and directories;
// SpaceReclaimed is the sum of their writable layers' usage.
func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.validate(containerPruneFilterKeys)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	var until time.Time
	if vs := f["until"]; len(vs) > 1 {
		writeError(w, badRequest("more than one until filter specified"))
		return
	} else if len(vs) == 1 {
		if until, err = untilTime(vs[0]); err != nil {
			writeError(w, badRequest("%v", err))
			return
		}
	}
	match := func(c containers.Container) bool {
		if !until.IsZero() && c.Created.After(until) {
			return false
		}
		return f.allLabels(c.Config.Labels) && f.noneOfLabels(c.Config.Labels)
	}
	var usage func(context.Context, string) (int64, error)
	if be, err := s.imageBackend(); err == nil {
		usage = be.Usage
	}
	rep, err := s.d.Prune(r.Context(), match, usage)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: rep.Deleted, SpaceReclaimed: rep.SpaceReclaimed})
}
