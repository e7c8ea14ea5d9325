package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	evol "github.com/berthd/berth/pkg/engine/volume"
)

// anonymousLabel marks anonymous volumes, as dockerd does.
const anonymousLabel = "com.docker.volume.anonymous"

var volumeFilterKeys = map[string]bool{"dangling": true, "driver": true, "label": true, "name": true}

// volumeJSON is the API shape of a volume; usage adds UsageData.
func (s *Server) volumeJSON(v *evol.Volume, usage bool) volume.Volume {
	labels := map[string]string{}
	for k, val := range v.Labels {
		labels[k] = val
	}
	if v.Anonymous {
		labels[anonymousLabel] = ""
	}
	opts := v.Options
	if len(opts) == 0 {
		opts = nil
	}
	out := volume.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: labels, Options: opts,
		Scope: "local", CreatedAt: v.CreatedAt.Format(time.RFC3339),
	}
	if usage {
		out.UsageData = &volume.UsageData{RefCount: int64(len(s.d.VolumeUsers(v.Name))), Size: s.d.Volumes().Size(v.Name)}
	}
	return out
}

func (s *Server) volumesList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := f.validate(volumeFilterKeys); err != nil {
		writeError(w, err)
		return
	}
	for _, v := range f["dangling"] {
		if _, ok := boolValue(v); !ok {
			writeError(w, badRequest("invalid filter 'dangling=%s'", v))
			return
		}
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range s.d.Volumes().List() {
		if s.matchVolume(f, v) {
			out.Volumes = append(out.Volumes, s.volumeJSON(v, false))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func boolValue(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

func (s *Server) matchVolume(f filters, v *evol.Volume) bool {
	labels := map[string]string{}
	for k, val := range v.Labels {
		labels[k] = val
	}
	if v.Anonymous {
		labels[anonymousLabel] = ""
	}
	return f.anyOf("name", func(n string) bool { return strings.Contains(v.Name, n) }) &&
		f.anyOf("driver", func(d string) bool { return d == v.Driver }) &&
		f.anyOf("dangling", func(d string) bool {
			want, _ := boolValue(d)
			return want == (len(s.d.VolumeUsers(v.Name)) == 0)
		}) &&
		f.allLabels(labels) && f.noneOfLabels(labels)
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	if req.ClusterVolumeSpec != nil {
		writeError(w, badRequest("ClusterVolumeSpec: cluster volumes need swarm mode, which berth does not have"))
		return
	}
	existed := false
	if req.Name != "" {
		_, err := s.d.Volumes().Get(req.Name)
		existed = err == nil
	}
	v, err := s.d.Volumes().Create(evol.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		writeError(w, err)
		return
	}
	// An existing volume is answered, not made: dockerd records no event.
	if !existed {
		s.d.EmitVolume(v.Name, "create")
	}
	writeJSON(w, http.StatusCreated, s.volumeJSON(v, false))
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) {
	v, err := s.d.Volumes().Get(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.volumeJSON(v, false))
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.d.RemoveVolume(name, boolParam(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	s.d.EmitVolume(name, "destroy")
	w.WriteHeader(http.StatusNoContent)
}

// volumesPrune removes unused volumes: anonymous ones only, unless the
// filter all=true (API 1.42 and later, as dockerd).
func (s *Server) volumesPrune(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := f.validate(map[string]bool{"label": true, "label!": true, "all": true}); err != nil {
		writeError(w, err)
		return
	}
	all := false
	for _, v := range f["all"] {
		b, ok := boolValue(v)
		if !ok {
			writeError(w, badRequest("invalid filter 'all=%s': invalid value", v))
			return
		}
		all = b
	}
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, v := range s.d.Volumes().List() {
		if !v.Anonymous && !all || len(s.d.VolumeUsers(v.Name)) > 0 {
			continue
		}
		labels := v.Labels
		if !f.allLabels(labels) || !f.noneOfLabels(labels) {
			continue
		}
		size := s.d.Volumes().Size(v.Name)
		if err := s.d.RemoveVolume(v.Name, false); err != nil {
			continue // taken into use meanwhile
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
		s.d.EmitVolume(v.Name, "destroy")
	}
	s.d.EmitPrune(events.VolumeEventType, rep.SpaceReclaimed)
	writeJSON(w, http.StatusOK, rep)
}
