package distribution

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// sha512Image adds to f an image whose config and layer are addressed by
// sha512 (the manifest is reachable by tag and by its sha512 digest too),
// and returns the manifest's sha512 digest, the layer and the config.
func sha512Image(t *testing.T, f *fakeRegistry, ref string) (digest.Digest, ocispec.Descriptor, ocispec.Descriptor) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	layerBytes := buf.Bytes()
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.SHA512.FromBytes(layerBytes), Size: int64(len(layerBytes))}
	// Diff IDs stay sha256: they name the uncompressed tar in chain IDs.
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layerBytes)}}}
	cb, _ := json.Marshal(cfg)
	config := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.SHA512.FromBytes(cb), Size: int64(len(cb))}
	mf := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}}
	mb, _ := json.Marshal(mf)
	md := digest.SHA512.FromBytes(mb)
	f.mu.Lock()
	f.blobs[layer.Digest], f.blobs[config.Digest] = layerBytes, cb
	for _, r := range []string{ref, md.String()} {
		f.manifests[r], f.mediaType[r] = mb, ocispec.MediaTypeImageManifest
	}
	f.mu.Unlock()
	return md, layer, config
}

// Pull by tag and by sha512 digest, blobs verified as sha512, and a sha512
// blob that does not match refused.
func TestPullSHA512(t *testing.T) {
	e := newEnv(t, nil)
	md, layer, config := sha512Image(t, e.fake, "v1")
	img, err := e.svc.Pull(e.ctx, e.host+"/s/app:v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Digest != config.Digest {
		t.Fatalf("config %s, want %s", img.Config.Digest, config.Digest)
	}
	for _, d := range []digest.Digest{layer.Digest, config.Digest} {
		b, err := e.cs.ReadAll(e.ctx, d, 1<<20)
		if err != nil || digest.SHA512.FromBytes(b) != d {
			t.Fatalf("blob %s: %v", d, err)
		}
	}
	img, err = e.svc.Pull(e.ctx, e.host+"/s/app@"+md.String(), PullOptions{})
	if err != nil || img.Target.Digest != md {
		t.Fatalf("pull by sha512 digest: %v %+v", err, img.Target)
	}
	if b, err := e.cs.ReadAll(e.ctx, md, 1<<20); err != nil || digest.SHA512.FromBytes(b) != md {
		t.Fatalf("manifest stored under its sha512: %v", err)
	}

	// Hostile: the registry serves other bytes for the sha512 layer.
	e2 := newEnv(t, nil)
	_, layer2, _ := sha512Image(t, e2.fake, "v1")
	e2.fake.serveBlob = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
		if d != layer2.Digest {
			return false
		}
		bad := append([]byte{}, b...)
		bad[len(bad)-1] ^= 1
		w.Write(bad)
		return true
	}
	if _, err := e2.svc.Pull(e2.ctx, e2.host+"/s/app:v1", PullOptions{}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("mismatching sha512 blob: %v", err)
	}
	e2.noImage(t)

	// An algorithm we do not store is refused before any download.
	e3 := newEnv(t, nil)
	l := e3.fake.addBlob([]byte("x"))
	l.MediaType, l.Digest = ocispec.MediaTypeImageLayer, digest.SHA384.FromString("x")
	e3.fake.addImage("v1", l)
	gets := e3.fake.blobGets.Load()
	if _, err := e3.svc.Pull(e3.ctx, e3.host+"/s/app:v1", PullOptions{}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "sha384") {
		t.Fatalf("sha384 layer: %v", err)
	}
	if n := e3.fake.blobGets.Load() - gets; n != 0 {
		t.Fatalf("%d blob downloads for a refused manifest", n)
	}
}

// uploadRegistry takes pushes: blobs by upload (monolithic PUT), manifests
// by PUT, answering with the sha256 of the manifest as registries do.
type uploadRegistry struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string][]byte
}

func (u *uploadRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodHead && strings.Contains(p, "/blobs/"):
		if _, ok := u.blobs[digest.Digest(p[strings.LastIndex(p, "/")+1:])]; ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/blobs/uploads/"):
		w.Header().Set("Location", p+"upload-1")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut && strings.Contains(p, "/blobs/uploads/"):
		d, err := digest.Parse(r.URL.Query().Get("digest"))
		b, _ := io.ReadAll(r.Body)
		if err != nil || d.Algorithm().FromBytes(b) != d {
			http.Error(w, "digest invalid", http.StatusBadRequest)
			return
		}
		u.blobs[d] = b
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPut && strings.Contains(p, "/manifests/"):
		b, _ := io.ReadAll(r.Body)
		u.manifests[p[strings.LastIndex(p, "/")+1:]] = b
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(b).String())
		w.WriteHeader(http.StatusCreated)
	default:
		http.NotFound(w, r)
	}
}

// Push of an image whose blobs are sha512: uploaded under their sha512
// digests, and the registry's sha256 of the manifest accepted.
func TestPushSHA512(t *testing.T) {
	e := newEnv(t, nil)
	md, layer, config := sha512Image(t, e.fake, "v1")
	if _, err := e.svc.Pull(e.ctx, e.host+"/s/app@"+md.String(), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	up := &uploadRegistry{blobs: map[digest.Digest][]byte{}, manifests: map[string][]byte{}}
	srv := httptest.NewServer(up)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	desc, err := e.svc.Push(e.ctx, e.host+"/s/app@"+md.String(), host+"/pushed:v1", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != md {
		t.Fatalf("pushed %s, want %s", desc.Digest, md)
	}
	for _, d := range []digest.Digest{layer.Digest, config.Digest} {
		if _, ok := up.blobs[d]; !ok {
			t.Fatalf("blob %s not uploaded (have %v)", d, len(up.blobs))
		}
	}
	if digest.SHA512.FromBytes(up.manifests["v1"]) != md {
		t.Fatal("manifest bytes changed on push")
	}
}
