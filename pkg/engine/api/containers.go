package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
)

// maxCreateBody bounds a create request (a seccomp profile inline is the
// largest thing in one: ~40 KB).
const maxCreateBody = 8 << 20

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody))
	if err != nil {
		writeError(w, badRequest("reading the request: %v", err))
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, badRequest("invalid JSON: empty body"))
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	if err := unknownFields(body); err != nil {
		writeError(w, err)
		return
	}
	if req.Config == nil {
		writeError(w, badRequest("config cannot be empty in order to create a container"))
		return
	}
	if hc := req.Config.Healthcheck; hc != nil && versions.LessThan(apiVersion(r), "1.44") {
		// StartInterval came with API 1.44: older clients get the default.
		h := *hc
		h.StartInterval = 0
		req.Config.Healthcheck = &h
	}
	if err := s.createPlatform(r, req.Config.Image); err != nil {
		writeError(w, err)
		return
	}
	c, err := s.d.Create(r.Context(), containers.CreateOptions{Name: r.URL.Query().Get("name"), Config: req.Config, HostConfig: req.HostConfig, NetworkingConfig: req.NetworkingConfig})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: []string{}})
}

// createPlatform checks create's platform=os[/arch[/variant]] against the
// image's: the container runs the image there is, so one of another
// platform is not found, as dockerd answers (the client may pull it).
// Only an image lookup more, and only when a platform is given.
func (s *Server) createPlatform(r *http.Request, ref string) error {
	want, err := parsePlatform(r.URL.Query().Get("platform"))
	if err != nil || want == nil {
		return err
	}
	p := ocispec.Platform{OS: want.GetOs(), Architecture: want.GetArchitecture(), Variant: want.GetVariant()}
	if p.Architecture == "" {
		p.Architecture = runtime.GOARCH // "linux" alone: this host's, as a client reads it
	}
	_, group, err := s.resolveImage(r.Context(), ref)
	if err != nil {
		return err
	}
	return s.checkImagePlatforms(r.Context(), ref, group[0], []ocispec.Platform{p})
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Start(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) {
	sig, err := containers.ParseSignal(r.URL.Query().Get("signal"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.Kill(r.Context(), r.PathValue("id"), sig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) {
	timeout, err := stopTimeout(r)
	if err == nil {
		err = s.d.Stop(r.Context(), r.PathValue("id"), containers.StopOptions{Signal: r.URL.Query().Get("signal"), Timeout: timeout})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stopTimeout reads ?t= (nil: the container's default).
func stopTimeout(r *http.Request) (*int, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		return nil, nil
	}
	t, err := strconv.Atoi(v)
	if err != nil {
		return nil, badRequest("invalid value for t: %s", v)
	}
	return &t, nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) {
	timeout, err := stopTimeout(r)
	if err == nil {
		err = s.d.Restart(r.Context(), r.PathValue("id"), containers.StopOptions{Signal: r.URL.Query().Get("signal"), Timeout: timeout})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) {
	if boolParam(r, "link") {
		s.linkRemove(w, r, r.PathValue("id"))
		return
	}
	c, _ := s.d.Inspect(r.Context(), r.PathValue("id"))
	if err := s.d.RemoveContainer(r.Context(), r.PathValue("id"), boolParam(r, "force"), boolParam(r, "v")); err != nil {
		writeError(w, err)
		return
	}
	// The last user of an image whose names were all removed (rmi -f of an
	// image in use) takes the image's content with it.
	if c.ImageID != "" {
		if _, err := s.d.Supervisor().GetImage(r.Context(), c.ImageID); errdefs.IsNotFound(err) {
			s.freeSpace(r.Context())
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// linkRemove is DELETE /containers/{name}?link=1 (`rm --link`): name is
// "/PARENT/ALIAS", and only that link goes, never a container.
func (s *Server) linkRemove(w http.ResponseWriter, r *http.Request, name string) {
	if err := s.d.RemoveLink(name); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// containerWait sends the headers at once (the client may start the
// container only then) and the result when the condition holds.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) {
	wait, err := s.d.PrepareWait(r.PathValue("id"), r.URL.Query().Get("condition"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, err := wait(r.Context())
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// statusString is docker's human status ("Up 2 minutes", "Exited (0) 3
// seconds ago", "Created").
func statusString(st containers.State) string {
	switch {
	case st.Running && st.Paused:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (Paused)"
	case st.Running && st.Health != nil:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (" + st.HealthString() + ")"
	case st.Running:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case st.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case st.Status == container.StateCreated:
		return "Created"
	case st.Status == container.StateRemoving:
		return "Removal In Progress"
	case st.FinishedAt.IsZero():
		return ""
	default:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	}
}

// storageDriver names the snapshotter supervisord really uses (overlayfs, or
// native where overlay is unavailable), as dockerd names its storage driver.
func (s *Server) storageDriver(ctx context.Context) string {
	if srv, err := s.d.Supervisor().Server(ctx); err == nil && srv.GetSnapshotter() != "" {
		return srv.GetSnapshotter()
	}
	return "overlayfs"
}

// mountPoints is inspect's Mounts: each bind, volume and tmpfs as dockerd
// shows them.
func mountPoints(c containers.Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, mp := range c.MountPoints {
		if mp.Listed() {
			out = append(out, mp.MountPoint)
		}
	}
	return out
}
