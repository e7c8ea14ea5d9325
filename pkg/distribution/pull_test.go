package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots/overlay"
)

// fakeRegistry serves manifests and blobs from maps; hooks make it hostile.
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string][]byte // ref -> body
	mediaType map[string]string
	blobs     map[digest.Digest][]byte
	blobGets  atomic.Int32
	ranges    []string
	// serveBlob, when set, replaces the blob answer.
	serveBlob func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool
	auth      func(w http.ResponseWriter, r *http.Request) bool
}

func newFake() *fakeRegistry {
	return &fakeRegistry{manifests: map[string][]byte{}, mediaType: map[string]string{}, blobs: map[digest.Digest][]byte{}}
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.auth != nil && !f.auth(w, r) {
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if i := strings.Index(p, "/manifests/"); i >= 0 {
		ref := p[i+len("/manifests/"):]
		f.mu.Lock()
		b, ok := f.manifests[ref]
		mt := f.mediaType[ref]
		f.mu.Unlock()
		if !ok {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", mt)
		w.Write(b)
		return
	}
	if i := strings.Index(p, "/blobs/"); i >= 0 {
		d := digest.Digest(p[i+len("/blobs/"):])
		f.mu.Lock()
		b, ok := f.blobs[d]
		f.ranges = append(f.ranges, r.Header.Get("Range"))
		f.mu.Unlock()
		f.blobGets.Add(1)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if f.serveBlob != nil && f.serveBlob(w, r, d, b) {
			return
		}
		http.ServeContent(w, r, "", epochZero, bytesReader(b))
		return
	}
	http.NotFound(w, r)
}

func (f *fakeRegistry) addBlob(b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	f.mu.Lock()
	f.blobs[d] = b
	f.mu.Unlock()
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (f *fakeRegistry) addManifest(ref, mt string, v any) ocispec.Descriptor {
	b, _ := json.Marshal(v)
	d := digest.FromBytes(b)
	f.mu.Lock()
	f.manifests[ref], f.mediaType[ref] = b, mt
	f.manifests[d.String()], f.mediaType[d.String()] = b, mt
	f.mu.Unlock()
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
}

// addImage makes an image of the given layer blobs (not unpacked by the
// tests, which need no root: their diff IDs are what the config says).
func (f *fakeRegistry) addImage(ref string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
	}
	cb, _ := json.Marshal(cfg)
	cd := f.addBlob(cb)
	cd.MediaType = ocispec.MediaTypeImageConfig
	mf := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: append([]ocispec.Descriptor{}, layers...)}
	return f.addManifest(ref, ocispec.MediaTypeImageManifest, mf)
}

type env struct {
	svc  *Service
	cs   *content.Store
	is   *images.Store
	fake *fakeRegistry
	host string
	ctx  context.Context
	root string
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	root := t.TempDir()
	cs, err := content.New(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := overlay.New(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	db, err := metadata.Open(filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	is := images.NewStore(db, cs, sn, t.TempDir())
	f := newFake()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := Config{}
	if mod != nil {
		mod(&cfg)
	}
	return &env{svc: New(cfg, cs, is), cs: cs, is: is, fake: f, host: strings.TrimPrefix(srv.URL, "http://"),
		ctx: namespaces.WithNamespace(context.Background(), "test"), root: root}
}

// noImage checks that a failed pull recorded nothing and left no ingest.
func (e *env) noImage(t *testing.T) {
	t.Helper()
	if imgs, _ := e.is.List(e.ctx); len(imgs) != 0 {
		t.Fatalf("a failed pull recorded %v", imgs)
	}
	// Every blob that is there is what its digest says.
	infos, _ := e.cs.List(e.ctx)
	for _, i := range infos {
		b, err := e.cs.ReadAll(e.ctx, i.Digest, 1<<30)
		if err != nil || i.Digest.Algorithm().FromBytes(b) != i.Digest {
			t.Fatalf("blob %s is corrupt", i.Digest)
		}
	}
}

func TestPullHostile(t *testing.T) {
	layer := []byte("not really a layer, never unpacked")
	cases := []struct {
		name  string
		setup func(f *fakeRegistry)
		want  string
	}{
		{"digest mismatch", func(f *fakeRegistry) {
			l := f.addBlob(layer)
			l.MediaType = ocispec.MediaTypeImageLayerGzip
			f.addImage("v1", l)
			f.serveBlob = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
				if d != l.Digest {
					return false
				}
				bad := append([]byte{}, b...)
				bad[0] ^= 0xff
				w.Write(bad)
				return true
			}
		}, "digest mismatch"},
		{"truncated blob", func(f *fakeRegistry) {
			l := f.addBlob(layer)
			l.MediaType = ocispec.MediaTypeImageLayerGzip
			f.addImage("v1", l)
			f.serveBlob = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
				if d != l.Digest {
					return false
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(b)/2))
				w.Write(b[:len(b)/2])
				return true
			}
		}, "truncated"},
		{"more bytes than the descriptor", func(f *fakeRegistry) {
			l := f.addBlob(layer)
			l.MediaType = ocispec.MediaTypeImageLayerGzip
			f.addImage("v1", l)
			f.serveBlob = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
				if d != l.Digest {
					return false
				}
				w.Write(append(append([]byte{}, b...), make([]byte, 1<<20)...))
				return true
			}
		}, "more than"},
		{"wrong media type", func(f *fakeRegistry) {
			f.addManifest("v1", "text/html", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json"})
		}, "unsupported media type"},
		{"schema 1", func(f *fakeRegistry) {
			f.addManifest("v1", mediaTypeSchema1Signed, map[string]any{"schemaVersion": 1, "name": "x", "tag": "v1"})
		}, "schema 1"},
		{"bad JSON", func(f *fakeRegistry) {
			f.mu.Lock()
			f.manifests["v1"], f.mediaType["v1"] = []byte(`{"schemaVersion": 2, "config": `), ocispec.MediaTypeImageManifest
			f.mu.Unlock()
		}, "bad JSON"},
		{"config of the wrong media type", func(f *fakeRegistry) {
			cd := f.addBlob([]byte(`{}`))
			cd.MediaType = "application/octet-stream"
			f.addManifest("v1", ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd})
		}, "not an image config"},
		{"10 GB layer", func(f *fakeRegistry) {
			l := f.addBlob(layer)
			l.MediaType = ocispec.MediaTypeImageLayerGzip
			l.Size = 10 << 30
			f.addImage("v1", l)
		}, "above the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c.setup(e.fake)
			_, err := e.svc.Pull(e.ctx, e.host+"/hostile:v1", PullOptions{})
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("pull: %v (want InvalidArgument with %q)", err, c.want)
			}
			if c.name == "10 GB layer" && e.fake.blobGets.Load() != 0 {
				t.Fatalf("%d blob requests for an image refused up front", e.fake.blobGets.Load())
			}
			e.noImage(t)
			if st, _ := e.cs.ListStatuses(e.ctx); c.name != "truncated blob" && len(st) != 0 {
				t.Fatalf("ingests left: %+v", st)
			}
		})
	}
}

// A download cut off halfway is continued with a Range request, and two
// pulls of one blob at once download it once.
func TestPullResumeAndCoalesce(t *testing.T) {
	e := newEnv(t, nil)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	l := e.fake.addBlob(big)
	l.MediaType = ocispec.MediaTypeImageLayerGzip
	var cut atomic.Bool
	cut.Store(true)
	e.fake.serveBlob = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
		if d == l.Digest && cut.Swap(false) {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:1<<20])
			return true // the handler returns early: the client sees a short body
		}
		return false
	}
	r, err := e.svc.repo(endpoint{scheme: "http", host: e.host}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = e.svc.fetchBlob(e.ctx, r, l, noop) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("fetch: %v %v", errs[0], errs[1])
	}
	b, err := e.cs.ReadAll(e.ctx, l.Digest, 1<<30)
	if err != nil || digest.FromBytes(b) != l.Digest {
		t.Fatalf("blob: %v", err)
	}
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	if len(e.fake.ranges) != 2 || e.fake.ranges[0] != "" || e.fake.ranges[1] != fmt.Sprintf("bytes=%d-", 1<<20) {
		t.Fatalf("requests (Range headers): %q", e.fake.ranges)
	}
}

// Anonymous bearer tokens: a 401 with a Bearer challenge, a token from the
// realm for the repository's pull scope, then the request with the token.
func TestPullBearerTokenAndIndex(t *testing.T) {
	e := newEnv(t, nil)
	var scopes []string
	e.fake.auth = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			scopes = append(scopes, r.URL.Query().Get("scope")+" "+r.URL.Query().Get("service"))
			w.Write([]byte(`{"token":"tok-` + r.URL.Query().Get("scope") + `"}`))
			return false
		}
		if r.Header.Get("Authorization") != "Bearer tok-repository:lib/app:pull" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="fake",scope="repository:lib/app:pull"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return false
		}
		return true
	}
	amd := e.fake.addImage("amd")
	arm := e.fake.addImage("arm")
	idx := e.fake.addManifest("v2", ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{
			{MediaType: arm.MediaType, Digest: arm.Digest, Size: arm.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
			{MediaType: amd.MediaType, Digest: amd.Digest, Size: amd.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		}})
	img, err := e.svc.Pull(e.ctx, e.host+"/lib/app:v2", PullOptions{Platform: &ocispec.Platform{Architecture: "amd64"}})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if img.Target.Digest != idx.Digest || img.Name != e.host+"/lib/app:v2" {
		t.Fatalf("image %+v", img)
	}
	amdBody := e.fake.manifests[amd.Digest.String()]
	var mf ocispec.Manifest
	json.Unmarshal(amdBody, &mf)
	if img.Config.Digest != mf.Config.Digest {
		t.Fatalf("chose config %s, amd64's is %s", img.Config.Digest, mf.Config.Digest)
	}
	if len(scopes) != 1 || scopes[0] != "repository:lib/app:pull fake" {
		t.Fatalf("token requests: %q", scopes)
	}
	// arm64/v8 picks the other manifest, as does aarch64; x86_64 is
	// amd64; an absent platform is NotFound, naming those there are.
	if _, err := e.svc.Pull(e.ctx, e.host+"/lib/app:v2", PullOptions{Platform: &ocispec.Platform{Architecture: "arm64", Variant: "v8"}}); err != nil {
		t.Fatalf("arm64 pull: %v", err)
	}
	var armMf ocispec.Manifest
	json.Unmarshal(e.fake.manifests[arm.Digest.String()], &armMf)
	if img, err := e.svc.Pull(e.ctx, e.host+"/lib/app:v2", PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "aarch64"}}); err != nil || img.Config.Digest != armMf.Config.Digest {
		t.Fatalf("aarch64 pull: %v %+v, want config %s", err, img, armMf.Config.Digest)
	}
	if img, err := e.svc.Pull(e.ctx, e.host+"/lib/app:v2", PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "x86_64"}}); err != nil || img.Config.Digest != mf.Config.Digest {
		t.Fatalf("x86_64 pull: %v %+v, want config %s", err, img, mf.Config.Digest)
	}
	_, err = e.svc.Pull(e.ctx, e.host+"/lib/app:v2", PullOptions{Platform: &ocispec.Platform{Architecture: "s390x"}})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/s390x") || !strings.Contains(err.Error(), "linux/arm64/v8, linux/amd64") {
		t.Fatalf("s390x pull: %v", err)
	}
}

// A mirror of docker.io is tried first; names are normalized as Docker's.
func TestPullMirrorAndNames(t *testing.T) {
	var mirror string
	e := newEnv(t, func(c *Config) {})
	e.svc.cfg.Mirrors = map[string][]string{"docker.io": {"http://127.0.0.1:1", "http://" + e.host}}
	_ = mirror
	e.fake.addImage("latest")
	img, err := e.svc.Pull(e.ctx, "busybox", PullOptions{})
	if err != nil {
		t.Fatalf("pull through mirror: %v", err)
	}
	if img.Name != "docker.io/library/busybox:latest" {
		t.Fatalf("name %q", img.Name)
	}
	// Plain HTTP is refused for a remote host that is not insecure.
	if _, err := e.svc.cfg.endpoints("example.com"); err != nil {
		t.Fatal(err)
	}
	eps, _ := e.svc.cfg.endpoints("example.com")
	if eps[0].scheme != "https" {
		t.Fatalf("example.com over %s", eps[0].scheme)
	}
	c := Config{Insecure: []string{"example.com"}, Mirrors: map[string][]string{"docker.io": {"http://mirror.example"}}}
	if eps, _ := c.endpoints("example.com"); eps[0].scheme != "http" {
		t.Fatalf("insecure example.com over %s", eps[0].scheme)
	}
	if _, err := c.endpoints("docker.io"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("plain-HTTP mirror on a remote host: %v", err)
	}
}
