package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/build"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/platforms"
)

// builderState holds the builder, made on the first build.
type builderState struct {
	once sync.Once
	b    *build.Builder
	err  error
}

// builder returns the engine's builder; its tmp (contexts and layer
// spools a crash left) is emptied when it is made.
func (s *Server) builder() (*build.Builder, error) {
	s.bs.once.Do(func() {
		be, err := s.imageBackend()
		if err != nil {
			s.bs.err = err
			return
		}
		root := s.cfg.DataRoot
		if root == "" {
			root = filepath.Join(os.TempDir(), "berth-engine")
		}
		tmp := filepath.Join(root, "tmp", "build")
		os.RemoveAll(tmp)
		cache, err := build.OpenCache(root)
		if err != nil {
			s.log.Warn("build cache unreadable, starting empty", "err", err)
		}
		s.bs.b = &build.Builder{D: s.d, Images: be, Cache: cache, Tmp: tmp, Log: s.log}
		if n := s.bs.b.RemoveLeftovers(context.Background()); n > 0 {
			s.log.Info("build: removed step containers of builds cut short", "count", n)
		}
	})
	return s.bs.b, s.bs.err
}

// buildZero are POST /build parameters the docker CLI always sends: their
// empty or zero values mean "not set". Any other value is a feature this
// builder does not have, refused by name.
var buildZero = map[string][]string{
	"squash":    {"", "0", "false"},
	"isolation": {"", "default"}, "remote": {""}, "outputs": {"", "[]", "null"}, "session": {""}, "buildid": {""},
	"nocache-filter": {""},
}

// buildParams reads POST /build's query into build.Options, refusing what
// the builder does not do.
func buildParams(r *http.Request) (build.Options, bool, error) {
	q := r.URL.Query()
	for name, zeros := range buildZero {
		v := q.Get(name)
		ok := false
		for _, z := range zeros {
			if v == z {
				ok = true
			}
		}
		if !ok {
			return build.Options{}, false, badRequest("build: %s=%s is not supported by this builder", name, v)
		}
	}
	if v := q.Get("version"); v != "" && v != "1" {
		return build.Options{}, false, badRequest("build: version=%s (BuildKit) is not supported: only the classic builder (version=1)", v)
	}
	var err error
	o := build.Options{Dockerfile: q.Get("dockerfile"), Target: q.Get("target"), NoCache: boolParam(r, "nocache"), Pull: boolParam(r, "pull")}
	if p := q.Get("platform"); p != "" {
		pp, err := parsePlatform(p)
		if err != nil {
			return o, false, err
		}
		if !platforms.OnHost(ocispec.Platform{OS: pp.Os, Architecture: pp.Architecture}) {
			return o, false, badRequest("build: platform %s is not supported: only this host's %s", p, platforms.Format(platforms.Host()))
		}
	}
	for _, t := range q["t"] {
		n, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return o, false, badRequest("invalid reference format: %s", t)
		}
		if _, ok := n.(reference.Canonical); ok {
			return o, false, badRequest("build: tag %s is a digest reference", t)
		}
		o.Tags = append(o.Tags, reference.TagNameOnly(n).String())
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.BuildArgs); err != nil {
			return o, false, badRequest("build: buildargs: %v", err)
		}
	}
	if v := q.Get("cachefrom"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.CacheFrom); err != nil {
			return o, false, badRequest("build: cachefrom: %v", err)
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.Labels); err != nil {
			return o, false, badRequest("build: labels: %v", err)
		}
	}
	switch nm := q.Get("networkmode"); nm {
	case "", "default", "bridge", "host", "none":
		o.NetworkMode = nm
	default:
		return o, false, badRequest("build: networkmode=%s is not supported: default, bridge, host or none", nm)
	}
	// rm defaults to true; forcerm (remove even after a failure) is what
	// this builder always does for a failed step, and wins over rm=0 as
	// in dockerd.
	if q.Get("rm") != "" && !boolParam(r, "rm") && !boolParam(r, "forcerm") {
		o.KeepContainers = true
	}
	if o.RunHost, err = buildRunHost(r); err != nil {
		return o, false, err
	}
	if o.Secrets, err = buildSecrets(r); err != nil {
		return o, false, err
	}
	auth, err := images.DecodeRegistryConfig(r.Header.Get("X-Registry-Config"))
	if err != nil {
		return o, false, err
	}
	o.Auth = auth
	return o, boolParam(r, "q"), nil
}

// build is POST /build: the body is the context tar (plain or
// compressed); the answer is the classic builder's JSON stream.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	o, quiet, err := buildParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := s.builder()
	if err != nil {
		writeError(w, err)
		return
	}
	stream := jsonStream(w)
	out := &build.Output{S: stream, Quiet: quiet}
	if _, err := b.Build(r.Context(), r.Body, o, out); err != nil {
		if !stream.Started() {
			// An error before any output is still an HTTP error, but the
			// docker CLI prints a stream error better: start one.
			out.Fail(err)
			return
		}
		out.Fail(err)
	}
}
