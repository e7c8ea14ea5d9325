package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
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

func (s *Server) imagesList(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.d.Supervisor().ListImages(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	used := map[string]int64{}
	for _, c := range s.d.List(true, 0) {
		used[c.ImageID]++
	}
	out := []image.Summary{}
	for id, group := range groupImages(imgs) {
		sum := image.Summary{ID: id, RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}, Containers: used[id], Size: group[0].GetSize()}
		sum.Created = group[0].GetCreatedAt()
		if cfg, err := s.d.Supervisor().ImageConfig(r.Context(), group[0]); err == nil {
			if cfg.Created != nil {
				sum.Created = cfg.Created.Unix()
			}
			if cfg.Config.Labels != nil {
				sum.Labels = cfg.Config.Labels
			}
		} else if sum.Created > 1e12 {
			sum.Created /= 1e9
		}
		for _, img := range group {
			if f := familiar(img.GetName()); f != "" {
				sum.RepoTags = append(sum.RepoTags, f)
				if named, err := reference.ParseNormalizedNamed(img.GetName()); err == nil && img.GetTarget().GetDigest() != "" {
					sum.RepoDigests = append(sum.RepoDigests, reference.FamiliarName(named)+"@"+img.GetTarget().GetDigest())
				}
			}
		}
		sort.Strings(sum.RepoTags)
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	writeJSON(w, http.StatusOK, out)
}

// imagesLoad imports a `docker save` or OCI layout tar from the body.
func (s *Server) imagesLoad(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.d.Supervisor().Import(r.Context(), r.Body, "")
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, img := range imgs {
		line := "Loaded image ID: " + img.GetConfig().GetDigest() + "\n"
		if f := familiar(img.GetName()); f != "" {
			line = "Loaded image: " + f + "\n"
		}
		_ = enc.Encode(map[string]string{"stream": line})
	}
}

// imagesCreate is `docker pull`: not available yet (images come from
// `load`), said in a way the docker CLI reports after "Unable to find image".
func (s *Server) imagesCreate(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("fromImage")
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	writeError(w, fmt.Errorf("pull %s: pulling images is not implemented yet, use load: %w", ref, errdefs.ErrNotImplemented))
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
	id, group, err := s.resolveImage(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	cfg, err := s.d.Supervisor().ImageConfig(r.Context(), group[0])
	if err != nil {
		writeError(w, err)
		return
	}
	resp := image.InspectResponse{
		ID: id, RepoTags: []string{}, RepoDigests: []string{},
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, Author: cfg.Author,
		Size:   group[0].GetSize(),
		Config: &dockerspec.DockerOCIImageConfig{ImageConfig: cfg.Config},
		RootFS: image.RootFS{Type: cfg.RootFS.Type},
	}
	if cfg.Created != nil {
		resp.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	for _, img := range group {
		if f := familiar(img.GetName()); f != "" {
			resp.RepoTags = append(resp.RepoTags, f)
		}
	}
	sort.Strings(resp.RepoTags)
	writeJSON(w, http.StatusOK, resp)
}

// imageDelete is `docker rmi`: a name is untagged; an ID (or the last
// name of an image) deletes the image. Images used by containers are kept
// unless forced.
func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("name")
	id, group, err := s.resolveImage(r.Context(), ref)
	if err != nil {
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
	if last && !boolParam(r, "force") {
		for _, c := range s.d.List(true, 0) {
			if c.ImageID == id {
				writeError(w, &httpError{status: http.StatusConflict, msg: fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is being used by container %s", shortID(id), shortID(c.ID))})
				return
			}
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
		}
	}
	if last {
		out = append(out, image.DeleteResponse{Deleted: id})
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
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok {
		writeError(w, &httpError{status: http.StatusNotFound, msg: "page not found"})
		return
	}
	r.SetPathValue("name", name)
	s.imageInspect(w, r)
}
