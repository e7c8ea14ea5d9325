package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
)

// containerChanges is `docker diff` (GET /containers/{id}/changes).
func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) {
	chs, err := s.d.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, chs)
}

// commit is `docker commit` (POST /commit?container=&repo=&tag=&comment=
// &author=&pause=&changes=, body: a container config overriding the
// container's).
func (s *Server) commit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := q.Get("container")
	if ref == "" {
		writeError(w, badRequest("container is required"))
		return
	}
	o := containers.CommitOptions{Repo: q.Get("repo"), Tag: q.Get("tag"), Author: q.Get("author"), Comment: q.Get("comment"), Changes: q["changes"], Pause: true}
	if q.Get("pause") != "" {
		o.Pause = boolParam(r, "pause")
	}
	var cfg container.Config
	if err := json.NewDecoder(r.Body).Decode(&cfg); err == nil {
		o.Config = &cfg
	} else if !errors.Is(err, io.EOF) {
		writeError(w, badRequest("commit: config: %v", err))
		return
	}
	id, err := s.d.Commit(r.Context(), ref, o)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

// importTmp is where imports spool their tar; emptied at start.
func (s *Server) importTmp() string {
	if s.cfg.DataRoot == "" {
		return os.TempDir()
	}
	return filepath.Join(s.cfg.DataRoot, "tmp", "import")
}

// imagesImport is `docker import` (POST /images/create?fromSrc=-|URL
// &repo=&tag=&message=&changes=&platform=): a root filesystem tar from the
// body or a URL made into a one-layer image.
func (s *Server) imagesImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	src := q.Get("fromSrc")
	name, err := containers.CommitName(q.Get("repo"), q.Get("tag"))
	if err != nil {
		writeError(w, err)
		return
	}
	o := images.ImportOptions{Name: name, Changes: q["changes"], Message: q.Get("message"), Source: src}
	if p := q.Get("platform"); p != "" {
		pp, err := parsePlatform(p)
		if err != nil {
			writeError(w, err)
			return
		}
		o.Platform = &ocispec.Platform{OS: pp.Os, Architecture: pp.Architecture, Variant: pp.Variant}
	}
	body := io.Reader(r.Body)
	if src != "-" {
		u, err := url.Parse(src)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, badRequest("import: fromSrc %q is neither - nor an http(s) URL", src))
			return
		}
		hc := &http.Client{Timeout: 5 * time.Minute}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		resp, err := hc.Do(req)
		if err != nil {
			writeError(w, fmt.Errorf("import from %s: %v: %w", src, err, errdefs.ErrUnavailable))
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			writeError(w, fmt.Errorf("import from %s: %s: %w", src, resp.Status, errdefs.ErrUnavailable))
			return
		}
		body = resp.Body
	}
	tmp := s.importTmp()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		writeError(w, err)
		return
	}
	id, err := images.ImportRootfs(r.Context(), s.d.Supervisor(), body, o, tmp)
	if err != nil {
		writeError(w, err)
		return
	}
	// As dockerd: the name's tag event, then the import's.
	ref := id
	if name != "" {
		ref = name
	}
	img, err := s.d.Supervisor().GetImage(r.Context(), ref)
	if err != nil {
		img = nil // no labels in the events
	}
	if name != "" {
		s.d.EmitImage(r.Context(), events.ActionTag, id, familiar(name), img)
	}
	s.d.EmitImage(r.Context(), events.ActionImport, id, id, img)
	writeJSON(w, http.StatusOK, map[string]string{"status": id})
}
