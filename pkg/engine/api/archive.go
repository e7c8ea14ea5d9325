package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
)

// pathStatHeader carries a path's stat in archive answers, as dockerd
// sends it: base64 of its JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func archivePathParam(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", badRequest("no path specified")
	}
	return p, nil
}

func setPathStat(w http.ResponseWriter, st *container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

// containerArchiveHead is HEAD /containers/{id}/archive?path=.
func (s *Server) containerArchiveHead(w http.ResponseWriter, r *http.Request) {
	p, err := archivePathParam(r)
	if err == nil {
		var st *container.PathStat
		if st, err = s.d.StatPath(r.Context(), r.PathValue("id"), p); err == nil {
			err = setPathStat(w, st)
		}
	}
	if err != nil {
		// HEAD has no body: the status and the stat header say it all.
		w.WriteHeader(StatusOf(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// containerArchiveGet is GET /containers/{id}/archive?path=: the stat
// header, then a tar of the path.
func (s *Server) containerArchiveGet(w http.ResponseWriter, r *http.Request) {
	p, err := archivePathParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	st, rc, err := s.d.ArchivePath(r.Context(), r.PathValue("id"), p)
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	if err := setPathStat(w, st); err != nil {
		writeError(w, err)
		return
	}
	tw := &tarWriter{w: w}
	tw.Write(nil) // the header goes out even for an empty archive
	if _, err := io.Copy(tw, rc); err != nil {
		tw.fail(err)
	}
}

// containerArchivePut is PUT /containers/{id}/archive?path=
// &noOverwriteDirNonDir=&copyUIDGID=, the body a tar to extract into the
// directory at path.
func (s *Server) containerArchivePut(w http.ResponseWriter, r *http.Request) {
	p, err := archivePathParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	opts := containers.ExtractOptions{NoOverwriteDirNonDir: boolParam(r, "noOverwriteDirNonDir"), CopyUIDGID: boolParam(r, "copyUIDGID")}
	if err := s.d.ExtractToDir(r.Context(), r.PathValue("id"), p, opts, r.Body); err != nil {
		if errdefs.IsFailedPrecondition(err) {
			// A read-only rootfs or volume: the API's documented 403.
			writeJSON(w, http.StatusForbidden, map[string]string{"message": err.Error()})
			return
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
