package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// ociLayout512 is an OCI layout tar whose manifest, config and layer are
// all addressed by sha512; mutate may change the blobs before they are
// written (under the digests computed first).
func ociLayout512(t *testing.T, layer []byte, mutate func(blobs map[digest.Digest][]byte)) ([]byte, ocispec.Descriptor) {
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}}
	cb, _ := json.Marshal(cfg)
	ld := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.SHA512.FromBytes(layer), Size: int64(len(layer))}
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.SHA512.FromBytes(cb), Size: int64(len(cb))}
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromBytes(mb), Size: int64(len(mb)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "example.com/sha512:v1"}}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	blobs := map[digest.Digest][]byte{ld.Digest: layer, cd.Digest: cb, md.Digest: mb}
	if mutate != nil {
		mutate(blobs)
	}
	files := []file{{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "index.json", body: string(idx)}}
	for d, b := range blobs {
		files = append(files, file{name: "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), body: string(b)})
	}
	return tarOf(t, files...), md
}

func TestImportExportSHA512(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	layer := tarOf(t, file{name: "hello", body: "hi"})
	arch, md := ociLayout512(t, layer, nil)
	imgs, err := s.Import(ctx, bytes.NewReader(arch), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Target.Digest != md.Digest || imgs[0].Config.Digest.Algorithm() != digest.SHA512 {
		t.Fatalf("imported %+v", imgs)
	}
	if imgs[0].ChainID != digest.FromBytes(layer) {
		t.Fatalf("chain %s", imgs[0].ChainID)
	}
	// Exported under blobs/sha512, byte for byte, and imported again.
	var out bytes.Buffer
	if err := s.Export(ctx, &out, []string{imgs[0].Name}, FormatOCIArchive); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(out.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	if !names["blobs/sha512/"] || !names["blobs/sha512/"+md.Digest.Encoded()] {
		t.Fatalf("export: %v", names)
	}
	if err := s.Delete(ctx, imgs[0].Name); err != nil {
		t.Fatal(err)
	}
	again, err := s.Import(ctx, bytes.NewReader(out.Bytes()), "")
	if err != nil || len(again) != 1 || again[0].Target.Digest != md.Digest {
		t.Fatalf("re-import: %v %+v", err, again)
	}
}

func TestImportSHA512Hostile(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	layer := tarOf(t, file{name: "hello", body: "hi"})
	cases := map[string]func(map[digest.Digest][]byte){
		"sha512 layer mismatch": func(b map[digest.Digest][]byte) {
			for d, v := range b {
				if string(v) == string(layer) {
					b[d] = []byte(strings.Replace(string(v), "hi", "ho", 1))
				}
			}
		},
		"sha512 config mismatch": func(b map[digest.Digest][]byte) {
			for d, v := range b {
				if strings.Contains(string(v), `"diff_ids"`) {
					b[d] = bytes.Replace(v, []byte("amd64"), []byte("arm64"), 1)
				}
			}
		},
	}
	for name, mutate := range cases {
		arch, _ := ociLayout512(t, layer, mutate)
		if _, err := s.Import(ctx, bytes.NewReader(arch), ""); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if l, _ := s.List(ctx); len(l) != 0 {
		t.Fatalf("recorded after failed imports: %+v", l)
	}
}
