package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/moby/moby/api/types/events"
)

// tarWriter answers with a tar stream: the headers go out with the first
// bytes, so an error before them is still a plain HTTP error.
type tarWriter struct {
	w       http.ResponseWriter
	started bool
}

func (t *tarWriter) Write(p []byte) (int, error) {
	if !t.started {
		t.started = true
		t.w.Header().Set("Content-Type", "application/x-tar")
		t.w.WriteHeader(http.StatusOK)
	}
	return t.w.Write(p)
}

// fail reports err; once bytes went out the connection is cut, so that the
// client sees a broken transfer rather than a short, valid-looking tar.
func (t *tarWriter) fail(err error) {
	if !t.started {
		writeError(t.w, err)
		return
	}
	panic(http.ErrAbortHandler)
}

// imagesSave is GET /images/get?names=... and GET /images/{name}/get: a
// docker-archive of the images (`docker save`).
func (s *Server) imagesSave(w http.ResponseWriter, r *http.Request, names []string) {
	if len(names) == 0 {
		writeError(w, badRequest("no image names given"))
		return
	}
	platforms, err := queryPlatforms(r, "platform", "1.48")
	if err != nil {
		writeError(w, err)
		return
	}
	var refs []string
	saved := map[string]*client.Image{}
	var order []string
	for _, n := range names {
		name, _, err := containers.NormalizeImageRef(n)
		if err != nil {
			writeError(w, err)
			return
		}
		id, group, err := s.resolveImage(r.Context(), n)
		if err != nil {
			writeError(w, err)
			return
		}
		// Each image is saved with the one platform it has: that must be
		// the one (or each of those) asked for.
		if err := s.checkImagePlatforms(r.Context(), n, group[0], platforms); err != nil {
			writeError(w, err)
			return
		}
		if name == n && (strings.HasPrefix(n, "sha256:") || strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), n)) {
			name = id // by ID: saved without names, as dockerd does
		}
		refs = append(refs, name)
		if saved[id] == nil {
			saved[id] = group[0]
			order = append(order, id)
		}
	}
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	tw := &tarWriter{w: w}
	if err := be.Export(r.Context(), refs, "docker-archive", tw); err != nil {
		tw.fail(fmt.Errorf("save %s: %w", strings.Join(names, ", "), err))
		return
	}
	for _, id := range order {
		s.d.EmitImage(r.Context(), events.ActionSave, id, id, saved[id])
	}
}

func (s *Server) imagesGet(w http.ResponseWriter, r *http.Request) {
	s.imagesSave(w, r, r.URL.Query()["names"])
}

// containerExport is GET /containers/{id}/export: the container's merged
// filesystem as a tar, read by the supervisor from its snapshot.
func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) {
	c, err := s.d.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.DropTaskAhead(r.Context(), c.ID); err != nil {
		writeError(w, err)
		return
	}
	tw := &tarWriter{w: w}
	if err := be.ExportSnapshot(r.Context(), c.ID, tw); err != nil {
		tw.fail(fmt.Errorf("export %s: %w", strings.TrimPrefix(c.Name, "/"), err))
		return
	}
	// As dockerd: once the whole archive went out, none for a failed one.
	s.d.Exported(c.ID)
}
