package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"

	"github.com/moby/moby/api/types/container"
)

// maxUpdateBody bounds an update request (resources and a restart policy).
const maxUpdateBody = 1 << 20

// containerUpdate is POST /containers/{id}/update (`docker update`). Keys
// the API type lacks, such as the KernelMemory older clients send, are
// refused as for create rather than dropped.
func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpdateBody))
	if err != nil {
		writeError(w, badRequest("reading the request: %v", err))
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, badRequest("invalid JSON: empty body"))
		return
	}
	var u container.UpdateConfig
	if err := json.Unmarshal(body, &u); err != nil {
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err == nil {
		if err := checkKeys("", top, jsonNames(reflect.TypeOf(u))); err != nil {
			writeError(w, err)
			return
		}
	}
	resp, err := s.d.Update(r.Context(), r.PathValue("id"), u)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
