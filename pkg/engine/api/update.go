package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// updateBody is the body of POST /containers/{id}/update, with the kernel
// memory fields older clients still send: they are refused, not dropped.
type updateBody struct {
	container.UpdateConfig
	KernelMemory    int64
	KernelMemoryTCP int64 `json:"KernelMemoryTCP"`
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) {
	var body updateBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			writeError(w, badRequest("invalid JSON: empty body"))
			return
		}
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	if body.KernelMemory != 0 || body.KernelMemoryTCP != 0 {
		writeError(w, badRequest("Kernel memory limits are not supported: KernelMemory and KernelMemoryTCP cannot be set (deprecated in the kernel, removed in API 1.42)"))
		return
	}
	resp, err := s.d.Update(r.Context(), r.PathValue("id"), body.UpdateConfig)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
