package api

import "net/http"

// containerRename is POST /containers/{id}/rename?name=.
func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Rename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
