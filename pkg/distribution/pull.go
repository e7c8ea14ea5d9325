package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/platforms"
)

// Media types beside the OCI ones.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeSchema1            = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeSchema1Signed      = "application/vnd.docker.distribution.manifest.v1+prettyjws"

	maxManifest = 4 << 20
	maxConfig   = 8 << 20
)

var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifest, MediaTypeDockerManifestList,
}, ", ")

// Service pulls into and pushes from one content and image store.
type Service struct {
	cfg     Config
	content *content.Store
	images  *images.Store
	tr      transports
	auths   sync.Map // host + user -> *authState, shared by requests
}

// New makes a Service.
func New(cfg Config, cs *content.Store, is *images.Store) *Service {
	if cfg.MaxLayerSize <= 0 {
		cfg.MaxLayerSize = 4 << 30
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 3
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 8 << 20
	}
	return &Service{cfg: cfg, content: cs, images: is}
}

// Progress is one step of a transfer.
type Progress struct {
	ID      string // a blob digest, "" for the image
	Status  string
	Current int64
	Total   int64
}

// PullOptions of Pull.
type PullOptions struct {
	Credentials *Credentials      // nil: from the docker config, else anonymous
	Platform    *ocispec.Platform // nil: linux/<host architecture>
	// Progress receives the steps; it is called from several goroutines
	// but never concurrently.
	Progress func(Progress)
	// Track is told of every blob ("content", digest) and snapshot
	// ("snapshots", chain ID) before the pull uses it, so that a lease can
	// protect it from garbage collection.
	Track func(kind, id string) error
}

type parsedRef struct {
	named  reference.Named
	domain string
	path   string
	ref    string // tag or digest
	dgst   digest.Digest
}

func parseRef(s string) (parsedRef, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return parsedRef{}, fmt.Errorf("reference %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	n = reference.TagNameOnly(n)
	p := parsedRef{named: n, domain: reference.Domain(n), path: reference.Path(n)}
	if c, ok := n.(reference.Canonical); ok {
		p.dgst = c.Digest()
		p.ref = c.Digest().String()
	} else if t, ok := n.(reference.Tagged); ok {
		p.ref = t.Tag()
	}
	return p, nil
}

func (s *Service) repo(ep endpoint, name string, creds *Credentials) (*repository, error) {
	rt, err := s.cfg.transport(&s.tr, ep.host)
	if err != nil {
		return nil, err
	}
	user := ""
	if creds != nil {
		user = creds.Username + "\x00" + creds.Password + "\x00" + creds.RegistryToken + "\x00" + creds.IdentityToken
	}
	a, _ := s.auths.LoadOrStore(ep.scheme+"://"+ep.host+"\x00"+user, &authState{})
	return &repository{ep: ep, name: name, creds: creds, hc: &http.Client{Transport: rt}, auth: a.(*authState)}, nil
}

func (s *Service) credentials(domain string, given *Credentials) *Credentials {
	if !given.empty() {
		return given
	}
	return s.cfg.dockerCredentials(domain)
}

func noop(Progress) {}

// Pull fetches ref, unpacks it and records it under its normalized name.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions) (images.Image, error) {
	pr, err := parseRef(ref)
	if err != nil {
		return images.Image{}, err
	}
	if opts.Progress == nil {
		opts.Progress = noop
	}
	var mu sync.Mutex
	progress := func(p Progress) { mu.Lock(); opts.Progress(p); mu.Unlock() }
	track := func(kind, id string) error {
		if opts.Track == nil {
			return nil
		}
		return opts.Track(kind, id)
	}
	platform := platforms.Host()
	if opts.Platform != nil && opts.Platform.Architecture != "" {
		platform = *opts.Platform
		if platform.OS == "" {
			platform.OS = "linux"
		}
	}
	eps, err := s.cfg.endpoints(pr.domain)
	if err != nil {
		return images.Image{}, err
	}
	creds := s.credentials(pr.domain, opts.Credentials)
	progress(Progress{Status: "resolving " + pr.named.String()})
	var (
		r      *repository
		top    ocispec.Descriptor
		body   []byte
		errAll []string
	)
	for i, ep := range eps {
		c := creds
		if ep.mirror {
			c = s.credentials(ep.host, nil)
		}
		if r, err = s.repo(ep, pr.path, c); err != nil {
			return images.Image{}, err
		}
		if ep.mirror {
			r.tries = 1 // a failing mirror falls through at once
		}
		top, body, err = r.fetchManifest(ctx, pr.ref, pr.dgst)
		if err == nil {
			break
		}
		// A mirror that fails or lacks the image falls through to the next.
		errAll = append(errAll, err.Error())
		if !ep.mirror || i == len(eps)-1 {
			return images.Image{}, err
		}
	}
	r.tries = 0 // the endpoint that answered gets the usual retries
	if err := track("content", top.Digest.String()); err != nil {
		return images.Image{}, err
	}
	if _, err := s.content.Write(ctx, bytes.NewReader(body), top.Digest, top.Size); err != nil {
		return images.Image{}, err
	}
	size := top.Size
	desc, mfBody := top, body
	if isIndex(top.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return images.Image{}, fmt.Errorf("index %s: bad JSON: %v: %w", top.Digest, err, errdefs.ErrInvalidArgument)
		}
		chosen, err := choosePlatform(idx, platform)
		if err != nil {
			return images.Image{}, fmt.Errorf("%s: %w", pr.named, err)
		}
		if chosen.Size > maxManifest {
			return images.Image{}, fmt.Errorf("manifest %s: %d bytes is too large: %w", chosen.Digest, chosen.Size, errdefs.ErrInvalidArgument)
		}
		if desc, mfBody, err = r.fetchManifest(ctx, chosen.Digest.String(), chosen.Digest); err != nil {
			return images.Image{}, err
		}
		if isIndex(desc.MediaType) {
			return images.Image{}, fmt.Errorf("manifest %s: nested index: %w", desc.Digest, errdefs.ErrInvalidArgument)
		}
		if err := track("content", desc.Digest.String()); err != nil {
			return images.Image{}, err
		}
		if _, err := s.content.Write(ctx, bytes.NewReader(mfBody), desc.Digest, desc.Size); err != nil {
			return images.Image{}, err
		}
		size += desc.Size
	}
	mf, err := parseManifest(desc, mfBody, s.cfg.MaxLayerSize)
	if err != nil {
		return images.Image{}, err
	}
	// The config first: its diff IDs must match the layers before any
	// layer is fetched.
	if err := track("content", mf.Config.Digest.String()); err != nil {
		return images.Image{}, err
	}
	if err := s.fetchBlob(ctx, r, mf.Config, noop); err != nil {
		return images.Image{}, fmt.Errorf("config %s: %w", mf.Config.Digest, err)
	}
	cfgBytes, err := s.content.ReadAll(ctx, mf.Config.Digest, maxConfig)
	if err != nil {
		return images.Image{}, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return images.Image{}, fmt.Errorf("config %s: bad JSON: %v: %w", mf.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
		return images.Image{}, fmt.Errorf("image %s: %d layers but the config lists %d diff IDs: %w", desc.Digest, len(mf.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	size += mf.Config.Size
	for _, l := range mf.Layers {
		size += l.Size
		if err := track("content", l.Digest.String()); err != nil {
			return images.Image{}, err
		}
	}
	chain, err := s.fetchAndUnpack(ctx, r, mf.Layers, cfg.RootFS.DiffIDs, progress, track)
	if err != nil {
		return images.Image{}, err
	}
	s.addSource(ctx, pr.domain, pr.path, append([]ocispec.Descriptor{mf.Config}, mf.Layers...))
	img := images.Image{Name: pr.named.String(), Target: top, Config: mf.Config, ChainID: chain, Size: size}
	img.Target.Annotations = nil
	if err := s.images.Record(ctx, []images.Image{img}); err != nil {
		return images.Image{}, fmt.Errorf("pull %s: recording the image: %w", pr.named, err)
	}
	got, err := s.images.Get(ctx, img.Name)
	if err != nil {
		return img, nil
	}
	progress(Progress{Status: "done", Current: size, Total: size})
	return got, nil
}

// fetchAndUnpack downloads up to Concurrency layers at once while unpacking
// them in order as they arrive.
func (s *Service) fetchAndUnpack(ctx context.Context, r *repository, layers []ocispec.Descriptor, diffIDs []digest.Digest, progress func(Progress), track func(kind, id string) error) (digest.Digest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make([]chan error, len(layers))
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, l := range layers {
		done[i] = make(chan error, 1)
		progress(Progress{ID: l.Digest.String(), Status: "waiting", Total: l.Size})
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				done[i] <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			done[i] <- s.fetchBlob(ctx, r, l, progress)
		}()
	}
	defer wg.Wait()
	parent := digest.Digest("")
	for i, l := range layers {
		if err := <-done[i]; err != nil {
			return "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		next := diffIDs[i]
		if parent != "" {
			next = digest.FromString(parent.String() + " " + diffIDs[i].String())
		}
		if err := track("snapshots", next.String()); err != nil {
			return "", err
		}
		progress(Progress{ID: l.Digest.String(), Status: "extracting", Current: l.Size, Total: l.Size})
		chain, err := s.images.UnpackLayer(ctx, l, diffIDs[i], parent)
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		progress(Progress{ID: l.Digest.String(), Status: "done", Current: l.Size, Total: l.Size})
		parent = chain
	}
	return parent, nil
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// fetchManifest GETs a manifest or index, refusing schema1, unknown media
// types, oversized bodies and (when dgst is set) a digest mismatch.
func (r *repository) fetchManifest(ctx context.Context, ref string, dgst digest.Digest) (ocispec.Descriptor, []byte, error) {
	resp, err := r.do(ctx, false, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, r.ep.url(r.name+"/manifests/"+ref), nil)
		if err == nil {
			req.Header.Set("Accept", manifestAccept)
		}
		return req, err
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, httpError("manifest "+r.name+":"+ref, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: %v: %w", r.name, ref, err, errdefs.ErrUnavailable)
	}
	if len(body) > maxManifest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: larger than %d bytes: %w", r.name, ref, maxManifest, errdefs.ErrInvalidArgument)
	}
	// Checked with the algorithm asked for (a pull by sha512 digest);
	// a tag resolves to the canonical sha256.
	alg := digest.Canonical
	if dgst != "" {
		if err := content.CheckDigest(dgst); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: %w", r.name, err)
		}
		alg = dgst.Algorithm()
	}
	actual := alg.FromBytes(body)
	if dgst != "" && actual != dgst {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: digest mismatch: expected %s, got %s: %w", r.name, dgst, actual, errdefs.ErrInvalidArgument)
	}
	var probe struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: bad JSON: %v: %w", r.name, ref, err, errdefs.ErrInvalidArgument)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if probe.MediaType != "" {
		mt = probe.MediaType
	}
	switch {
	case probe.SchemaVersion == 1 || mt == mediaTypeSchema1 || mt == mediaTypeSchema1Signed:
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: Docker schema 1 manifests are not supported (deprecated; push the image again with a current client): %w", r.name, ref, errdefs.ErrInvalidArgument)
	case mt == ocispec.MediaTypeImageManifest, mt == ocispec.MediaTypeImageIndex, mt == MediaTypeDockerManifest, mt == MediaTypeDockerManifestList:
	default:
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: unsupported media type %q: %w", r.name, ref, mt, errdefs.ErrInvalidArgument)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: actual, Size: int64(len(body))}, body, nil
}

// choosePlatform is the entry of idx for want, the best of its platforms
// that serve it (platforms.Best: x86_64 is amd64, arm64's v8 is its only
// variant, arm/v7 takes v6 when the index has no v7).
func choosePlatform(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	var (
		have []ocispec.Platform
		at   []int
	)
	for i, m := range idx.Manifests {
		if m.Platform != nil && m.Annotations["vnd.docker.reference.type"] == "" { // not buildkit's attestations
			have, at = append(have, *m.Platform), append(at, i)
		}
	}
	if i := platforms.Best(want, have); i >= 0 {
		return idx.Manifests[at[i]], nil
	}
	held := platforms.FormatAll(have)
	if held == "" {
		held = "no platform"
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s in the index (it has %s): %w", platforms.Format(want), held, errdefs.ErrNotFound)
}

var layerTypes = map[string]bool{
	ocispec.MediaTypeImageLayer: true, ocispec.MediaTypeImageLayerGzip: true, ocispec.MediaTypeImageLayerZstd: true,
	MediaTypeDockerLayer: true, "application/vnd.docker.image.rootfs.diff.tar": true,
}

func parseManifest(desc ocispec.Descriptor, body []byte, maxLayer int64) (ocispec.Manifest, error) {
	var mf ocispec.Manifest
	if err := json.Unmarshal(body, &mf); err != nil {
		return mf, fmt.Errorf("manifest %s: bad JSON: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	bad := func(f string, a ...any) error {
		return fmt.Errorf("manifest %s: "+f+": %w", append(append([]any{desc.Digest}, a...), errdefs.ErrInvalidArgument)...)
	}
	if mf.SchemaVersion != 2 {
		return mf, bad("schemaVersion %d", mf.SchemaVersion)
	}
	if mf.Config.MediaType != ocispec.MediaTypeImageConfig && mf.Config.MediaType != MediaTypeDockerConfig {
		return mf, bad("config media type %q is not an image config", mf.Config.MediaType)
	}
	if err := content.CheckDigest(mf.Config.Digest); err != nil {
		return mf, bad("config: %v", err)
	}
	if mf.Config.Size < 0 || mf.Config.Size > maxConfig {
		return mf, bad("config claims %d bytes (at most %d)", mf.Config.Size, maxConfig)
	}
	for _, l := range mf.Layers {
		if !layerTypes[l.MediaType] {
			return mf, bad("layer %s: unsupported media type %q", l.Digest, l.MediaType)
		}
		if err := content.CheckDigest(l.Digest); err != nil {
			return mf, bad("layer: %v", err)
		}
		if l.Size < 0 || l.Size > maxLayer {
			return mf, bad("layer %s claims %d bytes, above the limit of %d", l.Digest, l.Size, maxLayer)
		}
	}
	return mf, nil
}

// fetchBlob downloads a blob into the content store unless it is there. The
// ingest is named by the digest, so a second pull of the same blob (here or
// after a crash) continues it with a Range request. The descriptor's size is
// the limit: Content-Length is never trusted over it.
func (s *Service) fetchBlob(ctx context.Context, r *repository, d ocispec.Descriptor, progress func(Progress)) error {
	id := d.Digest.String()
	if _, err := s.content.Info(ctx, d.Digest); err == nil {
		// A crash between an ingest's commit and the removal of its
		// directory leaves the ingest behind: it goes now.
		if err := s.content.Abort(ctx, "pull-"+id); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return fmt.Errorf("blob %s: drop its finished ingest: %w", id, err)
		}
		progress(Progress{ID: id, Status: "exists", Current: d.Size, Total: d.Size})
		return nil
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		w, err := s.content.OpenWriter(ctx, "pull-"+id, d.Digest, d.Size)
		if errdefs.IsAlreadyExists(err) {
			progress(Progress{ID: id, Status: "exists", Current: d.Size, Total: d.Size})
			return nil
		}
		if err != nil {
			return err
		}
		err = r.download(ctx, w, d, progress)
		if err != nil {
			w.Close() // keep what arrived: the next attempt resumes
			if errdefs.IsInvalidArgument(err) {
				s.content.Abort(ctx, "pull-"+id) // what arrived is wrong
				return err
			}
			if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) || ctx.Err() != nil {
				return err
			}
			lastErr = err
			continue
		}
		progress(Progress{ID: id, Status: "verifying", Current: d.Size, Total: d.Size})
		if _, err := w.Commit(ctx); err != nil {
			return err
		}
		return nil
	}
	if errors.Is(lastErr, errTruncated) {
		// Every attempt ended early: the registry does not have the blob
		// the descriptor describes.
		return fmt.Errorf("%v: %w", lastErr, errdefs.ErrInvalidArgument)
	}
	return lastErr
}

var errTruncated = errors.New("truncated")

type progressWriter struct {
	w        io.Writer
	id       string
	cur, tot int64
	last     int64
	progress func(Progress)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.cur += int64(n)
	if p.cur-p.last >= 512<<10 || p.cur == p.tot {
		p.last = p.cur
		p.progress(Progress{ID: p.id, Status: "downloading", Current: p.cur, Total: p.tot})
	}
	return n, err
}

func (r *repository) download(ctx context.Context, w *content.Writer, d ocispec.Descriptor, progress func(Progress)) error {
	off := w.Offset()
	if off == d.Size {
		return nil
	}
	resp, err := r.do(ctx, false, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, r.ep.url(r.name+"/blobs/"+d.Digest.String()), nil)
		if err == nil && off > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		return req, err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
	case resp.StatusCode == http.StatusOK:
		if off > 0 {
			if err := w.Truncate(0); err != nil {
				return err
			}
			off = 0
		}
	default:
		return httpError("blob "+d.Digest.String(), resp)
	}
	pw := &progressWriter{w: w, id: d.Digest.String(), cur: off, last: off, tot: d.Size, progress: progress}
	// One byte more than the descriptor allows, so an oversized answer is
	// seen (Writer refuses writes past the expected size).
	_, err = io.Copy(pw, io.LimitReader(resp.Body, d.Size-off+1))
	if err != nil {
		if errdefs.IsInvalidArgument(err) {
			return fmt.Errorf("blob %s: registry sent more than the %d bytes of the descriptor: %w", d.Digest, d.Size, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("blob %s: %w: %v after %d of %d bytes", d.Digest, errTruncated, err, pw.cur, d.Size)
	}
	if pw.cur < d.Size {
		return fmt.Errorf("blob %s: %w: %d of %d bytes", d.Digest, errTruncated, pw.cur, d.Size)
	}
	return nil
}
