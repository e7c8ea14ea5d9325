// Package api serves the Docker Engine API over HTTP on top of the engine's
// container store (pkg/engine/containers).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/moby/moby/client/pkg/versions"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/memtrim"
	"github.com/berthd/berth/pkg/trace"
)

// API versions this engine speaks.
const (
	DefaultVersion = "1.51"
	MinVersion     = "1.24"
)

// Config is what the server needs besides the daemon.
type Config struct {
	Version  string // engine version
	Commit   string
	DataRoot string
	Log      *slog.Logger
	// Userns: containers run remapped (engined --userns-remap).
	Userns bool
}

// Server is the HTTP handler of the Engine API.
type Server struct {
	d   *containers.Daemon
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
	bs  builderState
	// traces are the recent traces (see serveTraced).
	traces *trace.Store
	// trim returns the heap a burst of requests freed (pkg/memtrim).
	trim *memtrim.Trimmer
}

// New returns the Engine API handler.
func New(d *containers.Daemon, cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{d: d, cfg: cfg, mux: http.NewServeMux(), log: cfg.Log, traces: newTraceStore(cfg.Log),
		trim: memtrim.New(memtrim.Quiet)}
	if cfg.DataRoot != "" {
		os.RemoveAll(s.importTmp()) // spools a crash left
	}
	s.routes()
	if cfg.DataRoot != "" {
		// The builder's tmp and the step containers of a build the last
		// engine did not finish go before any build starts.
		if _, err := s.builder(); err != nil {
			s.log.Warn("builder", "err", err)
		}
	}
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /_ping", s.ping)
	m.HandleFunc("HEAD /_ping", s.ping)
	m.HandleFunc("GET /version", s.version)
	m.HandleFunc("GET /info", s.info)
	m.HandleFunc("POST /images/load", s.imagesLoad)
	m.HandleFunc("GET /images/json", s.imagesList)
	m.HandleFunc("POST /images/create", s.imagesCreate)
	m.HandleFunc("GET /images/{name...}", s.imageGet)
	m.HandleFunc("DELETE /images/{name...}", s.imageDelete)
	m.HandleFunc("POST /images/prune", s.imagesPrune)
	m.HandleFunc("GET /images/get", s.imagesGet)
	m.HandleFunc("POST /images/{name...}", s.imagePost)
	m.HandleFunc("GET /containers/{id}/export", s.containerExport)
	m.HandleFunc("GET /system/df", s.systemDF)
	m.HandleFunc("POST /containers/create", s.containerCreate)
	m.HandleFunc("GET /containers/json", s.containerList)
	m.HandleFunc("GET /containers/{id}/json", s.containerInspect)
	m.HandleFunc("POST /containers/{id}/attach", s.containerAttach)
	m.HandleFunc("POST /containers/{id}/start", s.containerStart)
	m.HandleFunc("POST /containers/{id}/wait", s.containerWait)
	m.HandleFunc("GET /containers/{id}/logs", s.containerLogs)
	m.HandleFunc("POST /containers/{id}/kill", s.containerKill)
	m.HandleFunc("POST /containers/{id}/stop", s.containerStop)
	m.HandleFunc("POST /containers/{id}/restart", s.containerRestart)
	m.HandleFunc("POST /containers/{id}/resize", s.containerResize)
	m.HandleFunc("DELETE /containers/{id}", s.containerRemove)
	m.HandleFunc("POST /containers/{id}/pause", s.containerPause)
	m.HandleFunc("POST /containers/{id}/unpause", s.containerUnpause)
	m.HandleFunc("POST /containers/{id}/update", s.containerUpdate)
	m.HandleFunc("GET /containers/{id}/top", s.containerTop)
	m.HandleFunc("POST /containers/{id}/rename", s.containerRename)
	m.HandleFunc("POST /containers/prune", s.containerPrune)
	m.HandleFunc("GET /containers/{id}/stats", s.containerStats)
	m.HandleFunc("POST /containers/{id}/exec", s.containerExecCreate)
	m.HandleFunc("POST /exec/{id}/start", s.execStart)
	m.HandleFunc("GET /exec/{id}/json", s.execInspect)
	m.HandleFunc("POST /exec/{id}/resize", s.execResize)
	m.HandleFunc("GET /events", s.eventsStream)
	m.HandleFunc("GET /volumes", s.volumesList)
	m.HandleFunc("POST /volumes/create", s.volumeCreate)
	m.HandleFunc("POST /volumes/prune", s.volumesPrune)
	m.HandleFunc("GET /volumes/{name}", s.volumeInspect)
	m.HandleFunc("DELETE /volumes/{name}", s.volumeRemove)
	m.HandleFunc("POST /commit", s.commit)
	m.HandleFunc("GET /containers/{id}/changes", s.containerChanges)
	m.HandleFunc("POST /build", s.build)
	m.HandleFunc("POST /build/prune", s.buildPrune)
	m.HandleFunc("HEAD /containers/{id}/archive", s.containerArchiveHead)
	m.HandleFunc("GET /containers/{id}/archive", s.containerArchiveGet)
	m.HandleFunc("PUT /containers/{id}/archive", s.containerArchivePut)
	s.networkRoutes()
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{status: http.StatusNotFound, msg: "page not found"})
	})
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

type versionKey struct{}

// ServeHTTP strips and checks the /vX.Y prefix, sets the common headers and
// dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.trim.Done()
	h := w.Header()
	h.Set("Server", "Berth/"+s.cfg.Version+" (linux)")
	h.Set("Api-Version", DefaultVersion)
	h.Set("Ostype", "linux")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1]
		if versions.GreaterThan(v, DefaultVersion) {
			writeError(w, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", v, DefaultVersion)})
			return
		}
		if versions.LessThan(v, MinVersion) {
			writeError(w, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinVersion)})
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), versionKey{}, v))
		r2.URL.Path = m[2]
		r2.URL.RawPath = ""
		r = r2
	}
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path)
	if name, ok := linkPath(r); ok {
		// A link's name has slashes (/PARENT/ALIAS), which no pattern
		// of the mux takes and its path cleaning would redirect.
		s.serveTraced(w, r, func(w http.ResponseWriter, r *http.Request) { s.linkRemove(w, r, name) })
		return
	}
	s.serveTraced(w, r, s.mux.ServeHTTP)
}

// linkPath tells whether r removes a link given by its full name
// (DELETE /containers//PARENT/ALIAS?link=1), and returns the name.
func linkPath(r *http.Request) (string, bool) {
	if r.Method != http.MethodDelete || !boolParam(r, "link") {
		return "", false
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/containers/")
	if !ok || !strings.Contains(strings.Trim(name, "/"), "/") && !strings.HasPrefix(name, "/") {
		return "", false
	}
	return name, true
}

// apiVersion is the API version of the request: its /vX.Y prefix, else
// the newest.
func apiVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return DefaultVersion
}

// httpError carries an explicit status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// StatusOf maps an error class to an HTTP status.
func StatusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsAlreadyExists(err), errdefs.IsConflict(err), errdefs.IsFailedPrecondition(err):
		return http.StatusConflict
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsUnauthenticated(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusOf(err), map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "1" || v == "true" || v == "yes"
}
