package api

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/events"
)

// imagesLoad imports a `docker save` or OCI layout tar from the body,
// streamed to the supervisor's importer with the platforms asked for: it
// reads the archive, takes those platforms' manifests and refuses (not
// found, naming the platform) an archive that lacks one, before anything
// is stored.
func (s *Server) imagesLoad(w http.ResponseWriter, r *http.Request) {
	platforms, err := queryPlatforms(r, "platform", "1.48")
	if err != nil {
		writeError(w, err)
		return
	}
	imgs, err := s.d.Supervisor().Import(r.Context(), r.Body, "", platforms...)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	loaded := map[string]bool{}
	for _, img := range imgs {
		// One event per image, not per name it came with, as dockerd.
		if id := img.GetConfig().GetDigest(); !loaded[id] {
			loaded[id] = true
			s.d.EmitImage(r.Context(), events.ActionLoad, id, id, img)
		}
		line := "Loaded image ID: " + img.GetConfig().GetDigest() + "\n"
		if f := familiar(img.GetName()); f != "" {
			line = "Loaded image: " + f + "\n"
		}
		_ = enc.Encode(map[string]string{"stream": line})
	}
}
