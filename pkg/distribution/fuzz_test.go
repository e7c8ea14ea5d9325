package distribution

import (
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzPullResponses pulls from a registry whose answer to the tag is the
// fuzzer's body and Content-Type (a manifest, an index, anything), with a
// config blob of the fuzzer's too: nothing panics, a refused pull records
// no image and leaves no blob that does not match its digest, and an
// accepted one records an image whose blobs are there. The challenge
// parser (a registry's WWW-Authenticate) is fuzzed alongside.
func FuzzPullResponses(f *testing.F) {
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	mf, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mf), Size: int64(len(mf)), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	f.Add(mf, ocispec.MediaTypeImageManifest, cfg, `Bearer realm="http://h/token",service="s",scope="repository:a:pull"`)
	f.Add(idx, ocispec.MediaTypeImageIndex, cfg, `Basic realm="x"`)
	f.Add([]byte(`{"schemaVersion":1}`), "application/vnd.docker.distribution.manifest.v1+prettyjws", cfg, `Bearer realm=`)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"`+cd.Digest.String()+`","size":-1},"layers":[]}`), "", cfg, `bearer ,,=,"`)

	f.Fuzz(func(t *testing.T, body []byte, mediaType string, config []byte, challenge string) {
		parseChallenge(challenge)
		for _, c := range []byte(mediaType) {
			if c < 0x20 || c > 0x7e {
				return // no registry can send it: the client would retry a malformed response
			}
		}

		e := newEnv(t, nil)
		e.fake.mu.Lock()
		e.fake.manifests["fz"], e.fake.mediaType["fz"] = body, mediaType
		// The seeds' child manifest, for an index to point at.
		e.fake.manifests[md.Digest.String()], e.fake.mediaType[md.Digest.String()] = mf, md.MediaType
		e.fake.mu.Unlock()
		e.fake.addBlob(config)
		e.fake.addBlob(cfg)

		img, err := e.svc.Pull(e.ctx, e.host+"/lib/fz:fz", PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}})
		if err != nil {
			e.noImage(t)
			return
		}
		for _, d := range []digest.Digest{img.Target.Digest, img.Config.Digest} {
			b, err := e.cs.ReadAll(e.ctx, d, 1<<30)
			if err != nil || d.Algorithm().FromBytes(b) != d {
				t.Fatalf("accepted image %s without its blob %s: %v", img.Name, d, err)
			}
		}
	})
}
