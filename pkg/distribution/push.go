package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// sourceLabel names the repositories of a registry known to hold a blob
// (comma separated): a push to another repository of that registry mounts
// the blob from there instead of uploading it.
func sourceLabel(domain string) string { return supervisorv1.DistributionSourceLabelPrefix + domain }

func (s *Service) addSource(ctx context.Context, domain, repo string, blobs []ocispec.Descriptor) {
	for _, b := range blobs {
		s.content.UpdateLabels(ctx, b.Digest, func(m map[string]string) {
			repos := strings.Split(m[sourceLabel(domain)], ",")
			if !slices.Contains(repos, repo) {
				repos = append(repos, repo)
			}
			m[sourceLabel(domain)] = strings.Trim(strings.Join(repos, ","), ",")
		})
	}
}

// PushOptions of Push.
type PushOptions struct {
	Credentials *Credentials
	Progress    func(Progress)
}

// Push uploads the local image name as ref ("" = name): the blobs the
// registry lacks (mounted from another repository of the same registry when
// one is known to hold them), then the manifest. It returns the manifest's
// descriptor.
func (s *Service) Push(ctx context.Context, name, ref string, opts PushOptions) (ocispec.Descriptor, error) {
	img, err := s.images.Get(ctx, name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if ref == "" {
		ref = img.Name
	}
	pr, err := parseRef(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if opts.Progress == nil {
		opts.Progress = noop
	}
	var mu sync.Mutex
	progress := func(p Progress) { mu.Lock(); opts.Progress(p); mu.Unlock() }
	eps, err := s.cfg.endpoints(pr.domain)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	r, err := s.repo(eps[len(eps)-1], pr.path, s.credentials(pr.domain, opts.Credentials))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// What to push: the target, and when it is an index only the manifests
	// of it that are here (a pull keeps one platform).
	target := img.Target
	body, err := s.content.ReadAll(ctx, target.Digest, maxManifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var manifests []ocispec.Descriptor
	if isIndex(target.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("index %s: %v: %w", target.Digest, err, errdefs.ErrInvalidArgument)
		}
		all := true
		for _, m := range idx.Manifests {
			if _, err := s.content.Info(ctx, m.Digest); err == nil {
				manifests = append(manifests, m)
			} else {
				all = false
			}
		}
		if !all {
			// The index cannot be pushed without all its manifests: push
			// the one of this host instead.
			if len(manifests) == 0 {
				return ocispec.Descriptor{}, fmt.Errorf("push %s: no manifest of index %s is here: %w", name, target.Digest, errdefs.ErrFailedPrecondition)
			}
			target, manifests = manifests[0], nil
			if body, err = s.content.ReadAll(ctx, target.Digest, maxManifest); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
	}
	if !isIndex(target.MediaType) {
		manifests = nil
	}
	for _, m := range manifests {
		mb, err := s.content.ReadAll(ctx, m.Digest, maxManifest)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if err := s.pushManifestTree(ctx, r, pr.domain, m, mb, m.Digest.String(), progress); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	tag := pr.ref
	if err := s.pushManifestTree(ctx, r, pr.domain, target, body, tag, progress); err != nil {
		return ocispec.Descriptor{}, err
	}
	progress(Progress{Status: "done", Current: target.Size, Total: target.Size})
	return ocispec.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size}, nil
}

// pushManifestTree pushes the config and layers of a manifest (nothing for
// an index, whose manifests were pushed first) and then the manifest as ref.
func (s *Service) pushManifestTree(ctx context.Context, r *repository, domain string, desc ocispec.Descriptor, body []byte, ref string, progress func(Progress)) error {
	if !isIndex(desc.MediaType) {
		var mf ocispec.Manifest
		if err := json.Unmarshal(body, &mf); err != nil {
			return fmt.Errorf("manifest %s: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
		}
		blobs := append([]ocispec.Descriptor{mf.Config}, mf.Layers...)
		errs := make([]error, len(blobs))
		sem := make(chan struct{}, s.cfg.Concurrency)
		var wg sync.WaitGroup
		for i, b := range blobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[i] = s.pushBlob(ctx, r, domain, b, progress)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("push blob %s: %w", blobs[i].Digest, err)
			}
		}
		s.addSource(ctx, domain, r.name, blobs)
	}
	resp, err := r.do(ctx, true, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, r.ep.url(r.name+"/manifests/"+ref), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", desc.MediaType)
		}
		return req, err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return httpError("push manifest "+r.name+":"+ref, resp)
	}
	// A registry reports its own (canonical, sha256) digest: for a manifest
	// we address by sha512 it must be the sha256 of the same bytes.
	if got := digest.Digest(resp.Header.Get("Docker-Content-Digest")); got != "" && got != desc.Digest &&
		(got.Validate() != nil || got.Algorithm() == desc.Digest.Algorithm() || got.Algorithm().FromBytes(body) != got) {
		return fmt.Errorf("push manifest %s: registry computed digest %s, ours is %s: %w", ref, got, desc.Digest, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (r *repository) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := r.do(ctx, true, func() (*http.Request, error) {
		return http.NewRequest(http.MethodHead, r.ep.url(r.name+"/blobs/"+d.String()), nil)
	})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, httpError("blob "+d.String(), resp)
}

// location resolves an upload Location (often relative) against the endpoint.
func (r *repository) location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("registry %s: upload answer without Location: %w", r.ep.host, errdefs.ErrInvalidArgument)
	}
	base, _ := url.Parse(r.ep.scheme + "://" + r.ep.host + "/")
	u, err := base.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("registry %s: bad Location %q: %w", r.ep.host, loc, errdefs.ErrInvalidArgument)
	}
	return u, nil
}

func (s *Service) pushBlob(ctx context.Context, r *repository, domain string, d ocispec.Descriptor, progress func(Progress)) error {
	id := d.Digest.String()
	if ok, err := r.blobExists(ctx, d.Digest); err != nil {
		return err
	} else if ok {
		progress(Progress{ID: id, Status: "exists", Current: d.Size, Total: d.Size})
		return nil
	}
	// A repository of this registry known to hold the blob: mount it.
	from := ""
	for _, repo := range strings.Split(s.content.Labels(ctx, d.Digest)[sourceLabel(domain)], ",") {
		if repo != "" && repo != r.name {
			from = repo
			break
		}
	}
	q := ""
	if from != "" {
		q = "?" + url.Values{"mount": {id}, "from": {from}}.Encode()
	}
	resp, err := r.do(ctx, true, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, r.ep.url(r.name+"/blobs/uploads/")+q, nil)
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated && from != "" {
		progress(Progress{ID: id, Status: "mounted", Current: d.Size, Total: d.Size})
		return nil
	}
	if resp.StatusCode != http.StatusAccepted {
		return httpError("start upload", resp)
	}
	loc, err := r.location(resp)
	if err != nil {
		return err
	}
	f, err := s.content.Open(ctx, d.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	progress(Progress{ID: id, Status: "pushing", Total: d.Size})
	if d.Size > s.cfg.ChunkSize {
		// Chunked: PATCH one chunk at a time, each answer gives the
		// Location of the next.
		for off := int64(0); off < d.Size; {
			n := min(s.cfg.ChunkSize, d.Size-off)
			start := off
			u := loc.String()
			resp, err := r.do(ctx, true, func() (*http.Request, error) {
				req, err := http.NewRequest(http.MethodPatch, u, io.NewSectionReader(f, start, n))
				if err == nil {
					req.ContentLength = n
					req.Header.Set("Content-Type", "application/octet-stream")
					req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
				}
				return req, err
			})
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
				return httpError("upload chunk", resp)
			}
			if loc, err = r.location(resp); err != nil {
				return err
			}
			off += n
			progress(Progress{ID: id, Status: "pushing", Current: off, Total: d.Size})
		}
		return r.finishUpload(ctx, loc, d, nil)
	}
	return r.finishUpload(ctx, loc, d, io.NewSectionReader(f, 0, d.Size))
}

// finishUpload PUTs the last (or only, for a monolithic upload) bytes with
// the digest.
func (r *repository) finishUpload(ctx context.Context, loc *url.URL, d ocispec.Descriptor, body *io.SectionReader) error {
	u := *loc
	q := u.Query()
	q.Set("digest", d.Digest.String())
	u.RawQuery = q.Encode()
	resp, err := r.do(ctx, true, func() (*http.Request, error) {
		var rd io.Reader = http.NoBody
		n := int64(0)
		if body != nil {
			rd, n = io.NewSectionReader(body, 0, body.Size()), body.Size()
		}
		req, err := http.NewRequest(http.MethodPut, u.String(), rd)
		if err == nil {
			req.ContentLength = n
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return httpError("finish upload", resp)
	}
	return nil
}
