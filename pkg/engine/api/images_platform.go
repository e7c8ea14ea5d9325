package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

// Berth keeps one platform per stored image: pull and load pick one
// manifest of an index, and the image's config says which. A platform a
// client asks for therefore either is that one, or is not here at all.

// queryPlatforms reads the JSON-encoded OCI platforms of a query parameter
// (repeated for the endpoints that take several). A value that is not one
// is refused naming the parameter: reading it as "no platform" would act
// on whatever the image is. The parameter exists from API version since:
// below it, dockerd ignores it unread (older clients send it anyway: the
// docker client's push options once carried pull's platform), and so do we.
func queryPlatforms(r *http.Request, param, since string) ([]ocispec.Platform, error) {
	if versions.LessThan(apiVersion(r), since) {
		return nil, nil
	}
	var out []ocispec.Platform
	for _, v := range r.URL.Query()[param] {
		if v == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		var p ocispec.Platform
		if err := dec.Decode(&p); err != nil {
			return nil, badRequest("invalid %s parameter %q: not a JSON-encoded OCI platform: %v", param, v, err)
		}
		if dec.More() {
			return nil, badRequest("invalid %s parameter %q: not a JSON-encoded OCI platform: trailing data", param, v)
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, badRequest("invalid %s parameter %q: os and architecture are required", param, v)
		}
		out = append(out, p)
	}
	return out, nil
}

// queryPlatform is queryPlatforms for the endpoints that take one.
func queryPlatform(r *http.Request, param, since string) (*ocispec.Platform, error) {
	ps, err := queryPlatforms(r, param, since)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	if len(ps) > 1 {
		return nil, badRequest("invalid %s parameter: one platform only, %d given", param, len(ps))
	}
	return &ps[0], nil
}

// imagePlatform is the platform berth holds img for.
func (s *Server) imagePlatform(ctx context.Context, img *client.Image) (ocispec.Platform, error) {
	cfg, err := s.d.Supervisor().ImageConfig(ctx, img)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("image %s: reading its config for its platform: %w", img.GetName(), err)
	}
	return platforms.OfConfig(cfg), nil
}

// checkImagePlatforms refuses (not found, as a missing image is) when img
// does not provide every platform in want exactly (platforms.MatchStrict,
// as dockerd checks an image it holds); ref is the image as the client
// named it.
func (s *Server) checkImagePlatforms(ctx context.Context, ref string, img *client.Image, want []ocispec.Platform) error {
	if len(want) == 0 {
		return nil
	}
	have, err := s.imagePlatform(ctx, img)
	if err != nil {
		return err
	}
	for _, w := range want {
		if !platforms.MatchStrict(w, have) {
			return errdefs.Classf(errdefs.ErrNotFound, "image %s has no %s variant: it is stored for %s only", ref, platforms.Format(w), platforms.Format(have))
		}
	}
	return nil
}

// pushManifests says whether pushing img would push its whole index
// rather than one manifest: the supervisor pushes an index when all of its
// manifests are stored here, else the one of this host.
func pushesIndex(ctx context.Context, read func(context.Context, string) ([]byte, error), img *client.Image) (bool, error) {
	t := img.GetTarget()
	if t.GetMediaType() != ocispec.MediaTypeImageIndex && t.GetMediaType() != "application/vnd.docker.distribution.manifest.list.v2+json" {
		return false, nil
	}
	body, err := read(ctx, t.GetDigest())
	if err != nil {
		return false, fmt.Errorf("reading index %s: %w", t.GetDigest(), err)
	}
	var idx ocispec.Index
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&idx); err != nil {
		return false, fmt.Errorf("index %s: %v: %w", t.GetDigest(), err, errdefs.ErrInvalidArgument)
	}
	for _, m := range idx.Manifests {
		if _, err := read(ctx, m.Digest.String()); errdefs.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("manifest %s: %w", m.Digest, err)
		}
	}
	return true, nil
}
