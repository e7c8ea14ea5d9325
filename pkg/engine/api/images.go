package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
)

// familiar turns a supervisor image name into docker's short form; "" for an
// unnamed image (named by digest).
func familiar(name string) string {
	if strings.HasPrefix(name, "sha256:") || name == "" {
		return ""
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarString(named)
}

// groupImages groups supervisor images (one per name) by image ID.
func groupImages(imgs []*client.Image) map[string][]*client.Image {
	byID := map[string][]*client.Image{}
	for _, img := range imgs {
		id := img.GetConfig().GetDigest()
		if id == "" {
			id = img.GetTarget().GetDigest()
		}
		byID[id] = append(byID[id], img)
	}
	return byID
}

// resolveImage finds the supervisor images a user reference means: by name,
// or all names of an image ID.
func (s *Server) resolveImage(ctx context.Context, ref string) (string, []*client.Image, error) {
	name, fam, err := containers.NormalizeImageRef(ref)
	if err != nil {
		return "", nil, err
	}
	img, err := s.d.Supervisor().GetImage(ctx, name)
	if errdefs.IsNotFound(err) {
		return "", nil, &httpError{status: http.StatusNotFound, msg: "No such image: " + fam}
	}
	if err != nil {
		return "", nil, err
	}
	all, err := s.d.Supervisor().ListImages(ctx)
	if err != nil {
		return "", nil, err
	}
	id := img.GetConfig().GetDigest()
	return id, groupImages(all)[id], nil
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) {
	// As dockerd, manifests is a parameter from API 1.48: older clients
	// get no Manifests.
	manifests := boolParam(r, "manifests") && !versions.LessThan(apiVersion(r), "1.48")
	platform, err := queryPlatform(r, "platform", "1.49")
	if err != nil {
		writeError(w, err)
		return
	}
	if manifests && platform != nil {
		writeError(w, badRequest("conflicting options: manifests and platform options cannot both be set"))
		return
	}
	id, group, err := s.resolveImage(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if platform != nil {
		if err := s.checkImagePlatforms(r.Context(), r.PathValue("name"), group[0], []ocispec.Platform{*platform}); err != nil {
			writeError(w, err)
			return
		}
	}
	cfg, err := s.d.Supervisor().DockerImageConfig(r.Context(), group[0])
	if err != nil {
		writeError(w, err)
		return
	}
	resp := image.InspectResponse{
		ID: id, RepoTags: []string{}, RepoDigests: []string{},
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, Author: cfg.Author,
		Size:   group[0].GetSize(),
		Config: &cfg.Config, // with Docker's Healthcheck, OnBuild, Shell
		RootFS: image.RootFS{Type: cfg.RootFS.Type},
	}
	if cfg.Created != nil {
		resp.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	digests := map[string]bool{}
	for _, img := range group {
		if f := familiar(img.GetName()); f != "" {
			resp.RepoTags = append(resp.RepoTags, f)
			if named, err := reference.ParseNormalizedNamed(img.GetName()); err == nil && img.GetTarget().GetDigest() != "" {
				digests[reference.FamiliarName(named)+"@"+img.GetTarget().GetDigest()] = true
			}
		}
	}
	for d := range digests {
		resp.RepoDigests = append(resp.RepoDigests, d)
	}
	sort.Strings(resp.RepoTags)
	sort.Strings(resp.RepoDigests)
	if manifests {
		if resp.Manifests, err = s.inspectManifests(r.Context(), id, group); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// imageDelete is `docker rmi`: a name is untagged; an ID (or the last
// name of an image) deletes the image. Images used by containers are kept
// unless forced.
func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("name")
	platforms, err := queryPlatforms(r, "platforms", "1.50")
	if err != nil {
		writeError(w, err)
		return
	}
	id, group, err := s.resolveImage(r.Context(), ref)
	if err != nil {
		writeError(w, err)
		return
	}
	// Removing the image's only platform is removing the image; one it
	// lacks is refused before anything goes.
	if err := s.checkImagePlatforms(r.Context(), ref, group[0], platforms); err != nil {
		writeError(w, err)
		return
	}
	name, _, _ := containers.NormalizeImageRef(ref)
	byID := name == ref && (strings.HasPrefix(ref, "sha256:") || len(ref) >= 12 && strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), ref))
	var targets []*client.Image
	for _, img := range group {
		if byID || img.GetName() == name {
			targets = append(targets, img)
		}
	}
	last := len(targets) == len(group)
	force := boolParam(r, "force")
	if byID && len(group) > 1 && !force {
		writeError(w, &httpError{status: http.StatusConflict, msg: fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(id))})
		return
	}
	inUse := false
	if last {
		for _, c := range s.d.List(true, 0) {
			if c.ImageID != id {
				continue
			}
			inUse = true
			switch {
			case byID && c.State.Running:
				writeError(w, &httpError{status: http.StatusConflict, msg: fmt.Sprintf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(id), shortID(c.ID))})
				return
			case force:
			case byID:
				writeError(w, &httpError{status: http.StatusConflict, msg: fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(id), shortID(c.ID))})
				return
			default:
				writeError(w, &httpError{status: http.StatusConflict, msg: fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", familiar(name), shortID(c.ID), shortID(id))})
				return
			}
		}
	}
	if last && inUse && len(targets) > 0 && targets[0].GetName() != id {
		// As dockerd: the image a container still uses stays, without a
		// name (dangling), so its content is kept and it can be committed.
		be, err := s.imageBackend()
		if err == nil {
			err = be.Tag(r.Context(), id, targets[0])
		}
		if err != nil {
			writeError(w, err)
			return
		}
	}
	out := []image.DeleteResponse{}
	for _, img := range targets {
		if err := s.d.Supervisor().DeleteImage(r.Context(), img.GetName()); err != nil {
			writeError(w, err)
			return
		}
		if f := familiar(img.GetName()); f != "" {
			out = append(out, image.DeleteResponse{Untagged: f})
			s.d.EmitImage(r.Context(), events.ActionUnTag, id, id, img)
		}
	}
	// A forced untag of an image a container uses leaves the image to the
	// container: it is not reported deleted.
	if last && !inUse {
		out = append(out, image.DeleteResponse{Deleted: id})
		s.d.EmitImage(r.Context(), events.ActionDelete, id, id, nil)
		s.freeSpace(r.Context())
	}
	writeJSON(w, http.StatusOK, out)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// imageGet routes GET /images/NAME/json: names may contain slashes.
func (s *Server) imageGet(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("name")
	if name, ok := strings.CutSuffix(p, "/history"); ok {
		s.imageHistory(w, r, name)
		return
	}
	if name, ok := strings.CutSuffix(p, "/get"); ok {
		s.imagesSave(w, r, []string{name})
		return
	}
	name, ok := strings.CutSuffix(p, "/json")
	if !ok {
		writeError(w, &httpError{status: http.StatusNotFound, msg: "page not found"})
		return
	}
	r.SetPathValue("name", name)
	s.imageInspect(w, r)
}

// freeSpace removes the blobs and layers nothing references any more (an
// image's last name gone, a container removed), as dockerd frees them at
// once; what a pull, build or commit in flight holds is kept by its lease.
//
// The collection waits for pulls, builds and commits in flight (they hold
// it off while they run): the answer waits for it a few seconds at most,
// then the collection finishes in the background.
func (s *Server) freeSpace(ctx context.Context) {
	be, err := s.imageBackend()
	if err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n, err := s.collect(context.WithoutCancel(ctx), be); err != nil {
			s.log.Warn("freeing unreferenced content", "err", err)
		} else {
			s.log.Debug("freed unreferenced content", "bytes", n)
		}
	}()
	select {
	case <-done:
	case <-time.After(freeSpaceWait):
		s.log.Debug("freeing unreferenced content goes on in the background")
	}
}

// collect collects unreferenced content once the --rm removals under way
// are done: their snapshots, in the background a few ms after run --rm
// answers, would keep the layers under them (containers.AutoRemoveDelay).
func (s *Server) collect(ctx context.Context, be images.Backend) (int64, error) {
	if err := s.d.AwaitAutoRemovals(ctx); err != nil {
		return 0, err
	}
	return be.GarbageCollect(ctx)
}

// freeSpaceWait bounds how long rmi and rm wait for the collection.
const freeSpaceWait = 3 * time.Second
