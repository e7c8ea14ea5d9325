package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// imageBackend is the image part of the supervisor API: the supervisor
// itself when it has it (the unit tests' fake), else pkg/client's.
func (s *Server) imageBackend() (images.Backend, error) {
	sup := s.d.Supervisor()
	if b, ok := sup.(images.Backend); ok {
		return b, nil
	}
	if r, ok := sup.(*containers.Remote); ok {
		return &images.Remote{C: r.C}, nil
	}
	return nil, fmt.Errorf("the supervisor has no image distribution API: %w", errdefs.ErrNotImplemented)
}

// jsonStream starts dockerd's progress stream on w: headers are written with
// the first message, so that failures before it are plain HTTP errors.
func jsonStream(w http.ResponseWriter) *images.Stream {
	f, _ := w.(http.Flusher)
	return images.NewStream(w, func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}, func() {
		if f != nil {
			f.Flush()
		}
	})
}

// streamError reports err as an HTTP error, or inside the stream once it
// has started.
func streamError(w http.ResponseWriter, out *images.Stream, err error) {
	if out.Started() {
		out.Fail(err)
		return
	}
	writeError(w, err)
}

// parsePlatform reads "os[/arch[/variant]]".
func parsePlatform(v string) (*supervisorv1.Platform, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, badRequest("invalid platform: %s", v)
	}
	p := &supervisorv1.Platform{Os: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

// pullRef is the reference fromImage and tag name together: tag may be a
// tag or a digest, or empty (fromImage may carry its own tag; else latest).
func pullRef(from, tag string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(from)
	if err != nil {
		return nil, badRequest("invalid reference format: %s", from)
	}
	if tag != "" {
		if d, derr := digest.Parse(tag); derr == nil {
			named, err = reference.WithDigest(reference.TrimNamed(named), d)
		} else {
			named, err = reference.WithTag(reference.TrimNamed(named), tag)
		}
		if err != nil {
			return nil, badRequest("invalid reference format: %s:%s", from, tag)
		}
	}
	return reference.TagNameOnly(named), nil
}

// imagesCreate is `docker pull` (POST /images/create?fromImage=&tag=).
func (s *Server) imagesCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from := q.Get("fromImage")
	if from == "" {
		if q.Get("fromSrc") != "" {
			s.imagesImport(w, r)
			return
		}
		writeError(w, badRequest("fromImage is required"))
		return
	}
	named, err := pullRef(from, q.Get("tag"))
	if err != nil {
		writeError(w, err)
		return
	}
	if q.Get("tag") == "" && !strings.ContainsAny(strings.TrimPrefix(from, reference.Domain(named)), ":@") {
		// No tag at all is the API's "every tag" (docker pull -a): that needs
		// the registry's tag list, which the supervisor API does not offer.
		writeError(w, fmt.Errorf("pull %s: pulling all tags is not implemented, name a tag: %w", reference.FamiliarName(named), errdefs.ErrNotImplemented))
		return
	}
	platform, err := parsePlatform(q.Get("platform"))
	if err != nil {
		writeError(w, err)
		return
	}
	auth, err := images.DecodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		writeError(w, err)
		return
	}
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	var before string
	if prev, err := s.d.Supervisor().GetImage(r.Context(), named.String()); err == nil {
		before = prev.GetTarget().GetDigest()
	}
	tagOrDigest := ""
	if c, ok := named.(reference.Canonical); ok {
		tagOrDigest = c.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	}
	out := jsonStream(w)
	pp := images.NewPullProgress(out, reference.Path(named), tagOrDigest)
	img, err := be.Pull(r.Context(), named.String(), auth, platform, pp.Step)
	if err != nil {
		streamError(w, out, fmt.Errorf("pull %s: %w", reference.FamiliarString(named), err))
		return
	}
	pp.Finish(img.GetTarget().GetDigest(), reference.FamiliarString(named), before == img.GetTarget().GetDigest())
	s.d.EmitImage(r.Context(), events.ActionPull, reference.FamiliarString(named), reference.FamiliarName(named), img)
}

// imagePush is POST /images/{name}/push?tag=: with no tag, every local tag
// of the repository is pushed, as dockerd does.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		writeError(w, badRequest("invalid reference format: %s", name))
		return
	}
	var refs []reference.Named
	if tag := r.URL.Query().Get("tag"); tag != "" {
		t, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			writeError(w, badRequest("invalid tag format: %s", tag))
			return
		}
		refs = append(refs, t)
	} else if _, ok := named.(reference.Tagged); ok {
		refs = append(refs, named)
	} else {
		all, err := s.d.Supervisor().ListImages(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		for _, img := range all {
			n, err := reference.ParseNormalizedNamed(img.GetName())
			if err != nil || n.Name() != named.Name() {
				continue
			}
			if _, ok := n.(reference.Tagged); ok {
				refs = append(refs, n)
			}
		}
		sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	}
	platform, err := queryPlatform(r, "platform", "1.46")
	if err != nil {
		writeError(w, err)
		return
	}
	var missing bool
	var configs []string
	var imgs []*client.Image
	for _, ref := range refs {
		img, err := s.d.Supervisor().GetImage(r.Context(), ref.String())
		if errdefs.IsNotFound(err) {
			missing = true
		} else if err != nil {
			writeError(w, err)
			return
		} else {
			configs = append(configs, img.GetConfig().GetDigest())
			imgs = append(imgs, img)
		}
	}
	if len(refs) == 0 || missing {
		writeError(w, &httpError{status: http.StatusNotFound, msg: "An image does not exist locally with the tag: " + reference.FamiliarName(named)})
		return
	}
	auth, err := images.DecodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		writeError(w, err)
		return
	}
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	if platform != nil {
		// Every tag is checked before the first is pushed.
		for i, img := range imgs {
			fam := reference.FamiliarString(refs[i])
			if err := s.checkImagePlatforms(r.Context(), fam, img, []ocispec.Platform{*platform}); err != nil {
				writeError(w, err)
				return
			}
			// --platform pushes one manifest, never an index: the
			// supervisor would push the index when all of it is here.
			whole, err := pushesIndex(r.Context(), be.ReadBlob, img)
			if err != nil {
				writeError(w, fmt.Errorf("push %s: %w", fam, err))
				return
			}
			if whole {
				writeError(w, fmt.Errorf("push %s --platform %s: every manifest of its index is stored here, and pushing one of them alone is not supported: %w", fam, platforms.Format(*platform), errdefs.ErrNotImplemented))
				return
			}
		}
	}
	out := jsonStream(w)
	pp := images.NewPushProgress(out, named.Name())
	for _, c := range configs {
		pp.Skip(c)
	}
	for i, ref := range refs {
		dgst, size, err := be.Push(r.Context(), ref.String(), ref.String(), auth, pp.Step)
		if err != nil {
			out.Fail(fmt.Errorf("push %s: %w", reference.FamiliarString(ref), err))
			return
		}
		pp.Finish(ref.(reference.Tagged).Tag(), dgst, size)
		s.d.EmitImage(r.Context(), events.ActionPush, reference.FamiliarString(ref), reference.FamiliarName(ref), imgs[i])
	}
}
