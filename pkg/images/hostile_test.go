package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// ociParts is an OCI layout's pieces, to be broken by a test before
// ociTar writes them.
type ociParts struct {
	layer, config, manifest []byte
	index                   ocispec.Index
	blobs                   map[digest.Digest][]byte
}

func putBlob(blobs map[digest.Digest][]byte, mt string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	blobs[d] = b
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
}

func newOCIParts(t testing.TB, marker string) *ociParts {
	p := &ociParts{blobs: map[digest.Digest][]byte{}}
	p.layer = tarOf(t, file{name: marker, body: marker})
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(p.layer)}}}
	p.config, _ = json.Marshal(cfg)
	ld := putBlob(p.blobs, ocispec.MediaTypeImageLayer, p.layer)
	cd := putBlob(p.blobs, ocispec.MediaTypeImageConfig, p.config)
	p.manifest, _ = json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	md := putBlob(p.blobs, ocispec.MediaTypeImageManifest, p.manifest)
	md.Annotations = map[string]string{"io.containerd.image.name": "example.com/hostile:" + marker}
	p.index = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}}
	return p
}

func (p *ociParts) tar(t testing.TB) []byte {
	idx, _ := json.Marshal(p.index)
	files := []file{{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "index.json", body: string(idx)}}
	for d, b := range p.blobs {
		files = append(files, file{name: "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), body: string(b)})
	}
	return tarOf(t, files...)
}

// storeState is everything an import may change: names, blobs, snapshots.
func storeState(t *testing.T, s *Store) []string {
	ctx := context.Background()
	var out []string
	imgs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		out = append(out, "image "+i.Name+" "+i.Target.Digest.String())
	}
	blobs, err := s.content.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		out = append(out, fmt.Sprintf("blob %s %d", b.Digest, b.Size))
	}
	snaps, err := s.snaps.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range snaps {
		out = append(out, fmt.Sprintf("snapshot %s %v", i.Name, i.Kind))
	}
	sort.Strings(out)
	return out
}

func TestImportHostileImagesLeaveStoreUnchanged(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	// Something in the store, so "unchanged" is not merely "empty".
	if _, err := s.Import(ctx, bytes.NewReader(newOCIParts(t, "good").tar(t)), ""); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, s)

	type hostile struct {
		arch []byte
		want []string // substrings of the error
	}
	cases := map[string]hostile{}

	// docker-archive: the config file is not named by its content's digest.
	l1 := tarOf(t, file{name: "bin/new", body: "new layer"})
	renamed := func(cfgName func(cb []byte) string) []byte {
		return dockerArchive(t, []string{"hostile"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
			cb, _ := json.Marshal(cfg)
			n := cfgName(cb)
			files[n] = cb
			mb, _ := json.Marshal([]map[string]any{{"Config": n, "RepoTags": []string{"hostile"}, "Layers": []string{"a/layer.tar"}}})
			files["manifest.json"] = mb
		})
	}
	other := digest.FromString("another config")
	cases["docker config named by another digest"] = hostile{renamed(func([]byte) string { return other.Encoded() + ".json" }),
		[]string{"not the digest of its content", other.String()}}
	cases["docker config not named by a digest"] = hostile{renamed(func([]byte) string { return "config.json" }),
		[]string{`"config.json" is not named by a digest`}}
	cases["docker layer blob named by another digest"] = hostile{dockerArchive(t, []string{"hostile"}, [][]byte{l1}, func(cfg map[string]any, files map[string][]byte) {
		name := "blobs/sha256/" + other.Encoded()
		files[name] = files["a/layer.tar"]
		files["a/layer.tar"] = []byte("not used")
		cb, _ := json.Marshal(cfg)
		n := digest.FromBytes(cb).Encoded() + ".json"
		mb, _ := json.Marshal([]map[string]any{{"Config": n, "RepoTags": []string{"hostile"}, "Layers": []string{name}}})
		files["manifest.json"] = mb
	}), []string{"digest mismatch", other.String(), digest.FromBytes(l1).String()}}

	// OCI: the descriptor says manifest, the blob is an index (top level).
	{
		p := newOCIParts(t, "m2i")
		inner, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: p.index.Manifests})
		d := putBlob(p.blobs, ocispec.MediaTypeImageManifest, inner)
		p.index.Manifests = []ocispec.Descriptor{d}
		cases["oci manifest descriptor, index blob"] = hostile{p.tar(t), []string{"descriptor says " + ocispec.MediaTypeImageManifest, "blob says " + ocispec.MediaTypeImageIndex}}
	}
	// The same without the blob's own mediaType: its fields give it away.
	{
		p := newOCIParts(t, "m2i-bare")
		inner, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": p.index.Manifests})
		d := putBlob(p.blobs, ocispec.MediaTypeImageManifest, inner)
		p.index.Manifests = []ocispec.Descriptor{d}
		cases["oci manifest descriptor, bare index blob"] = hostile{p.tar(t), []string{"descriptor says manifest", "not a manifest"}}
	}
	// A level down: an index whose entry says manifest but is an index.
	{
		p := newOCIParts(t, "nested")
		inner, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: p.index.Manifests})
		d := putBlob(p.blobs, ocispec.MediaTypeImageManifest, inner)
		outer, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{d}})
		od := putBlob(p.blobs, ocispec.MediaTypeImageIndex, outer)
		p.index.Manifests = []ocispec.Descriptor{od}
		cases["oci nested manifest descriptor, index blob"] = hostile{p.tar(t), []string{d.Digest.String(), "blob says " + ocispec.MediaTypeImageIndex}}
	}
	// The reverse: the descriptor says index, the blob is a manifest.
	{
		p := newOCIParts(t, "i2m")
		p.index.Manifests[0].MediaType = ocispec.MediaTypeImageIndex
		cases["oci index descriptor, manifest blob"] = hostile{p.tar(t), []string{"descriptor says " + ocispec.MediaTypeImageIndex}}
	}
	// The config's descriptor says it is a layer.
	{
		p := newOCIParts(t, "cfgtype")
		var mf ocispec.Manifest
		json.Unmarshal(p.manifest, &mf)
		mf.Config.MediaType = ocispec.MediaTypeImageLayer
		mb, _ := json.Marshal(mf)
		delete(p.blobs, digest.FromBytes(p.manifest))
		p.index.Manifests[0] = putBlob(p.blobs, ocispec.MediaTypeImageManifest, mb)
		cases["oci config media type"] = hostile{p.tar(t), []string{"is not an image config"}}
	}
	// Size: the descriptor says one more byte than the blob has.
	{
		p := newOCIParts(t, "size")
		var mf ocispec.Manifest
		json.Unmarshal(p.manifest, &mf)
		mf.Layers[0].Size++
		mb, _ := json.Marshal(mf)
		delete(p.blobs, digest.FromBytes(p.manifest))
		p.index.Manifests[0] = putBlob(p.blobs, ocispec.MediaTypeImageManifest, mb)
		n := int64(len(p.layer))
		cases["oci layer size"] = hostile{p.tar(t), []string{"size", fmt.Sprint(n + 1), fmt.Sprint(n)}}
	}
	{
		p := newOCIParts(t, "msize")
		p.index.Manifests[0].Size--
		n := int64(len(p.manifest))
		cases["oci manifest size"] = hostile{p.tar(t), []string{"size", fmt.Sprint(n - 1), fmt.Sprint(n)}}
	}
	// Digest: a blob whose content is not its name.
	{
		p := newOCIParts(t, "digest")
		ld := digest.FromBytes(p.layer)
		evil := bytes.Clone(p.layer)
		evil[len(evil)-1] ^= 1
		p.blobs[ld] = evil
		cases["oci layer digest"] = hostile{p.tar(t), []string{"digest mismatch", ld.String(), digest.FromBytes(evil).String()}}
	}
	{
		p := newOCIParts(t, "cdigest")
		cd := digest.FromBytes(p.config)
		evil := bytes.Replace(p.config, []byte("amd64"), []byte("arm64"), 1)
		p.blobs[cd] = evil
		cases["oci config digest"] = hostile{p.tar(t), []string{"digest mismatch", cd.String(), digest.FromBytes(evil).String()}}
	}
	// An uncompressed layer whose digest is not the config's diff ID.
	{
		p := newOCIParts(t, "diffid")
		var cfg map[string]any
		json.Unmarshal(p.config, &cfg)
		cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": []string{other.String()}}
		cb, _ := json.Marshal(cfg)
		var mf ocispec.Manifest
		json.Unmarshal(p.manifest, &mf)
		delete(p.blobs, mf.Config.Digest)
		delete(p.blobs, digest.FromBytes(p.manifest))
		mf.Config = putBlob(p.blobs, ocispec.MediaTypeImageConfig, cb)
		mb, _ := json.Marshal(mf)
		p.index.Manifests[0] = putBlob(p.blobs, ocispec.MediaTypeImageManifest, mb)
		cases["oci diff id"] = hostile{p.tar(t), []string{"does not match diff ID", other.String()}}
	}
	// A second, good image beside a bad one: neither is stored.
	{
		p := newOCIParts(t, "half")
		q := newOCIParts(t, "half-bad")
		for d, b := range q.blobs {
			p.blobs[d] = b
		}
		q.index.Manifests[0].Size++
		p.index.Manifests = append(p.index.Manifests, q.index.Manifests[0])
		cases["oci good then bad"] = hostile{p.tar(t), []string{"size mismatch"}}
	}

	for name, c := range cases {
		_, err := s.Import(ctx, bytes.NewReader(c.arch), "")
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: want InvalidArgument, got %v", name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", name, err, w)
			}
		}
		if after := storeState(t, s); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the store changed:\nbefore %v\nafter  %v", name, before, after)
		}
	}
}

func TestCheckKind(t *testing.T) {
	mf := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":{},"layers":[]}`)
	idx := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[]}`)
	for _, c := range []struct {
		mt   string
		body []byte
		ok   bool
	}{
		{ocispec.MediaTypeImageManifest, mf, true},
		{ocispec.MediaTypeImageIndex, idx, true},
		{ocispec.MediaTypeImageManifest, idx, false},
		{ocispec.MediaTypeImageIndex, mf, false},
		{mediaTypeDockerManifest, mf, false},
		{mediaTypeDockerManifest, []byte(`{"schemaVersion":2,"config":{},"layers":[]}`), true},
		{mediaTypeDockerManifestList, []byte(`{"schemaVersion":2,"manifests":[]}`), true},
		{ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":1,"config":{}}`), false},
		{ocispec.MediaTypeImageConfig, []byte(`{"schemaVersion":2,"config":{}}`), false},
		{ocispec.MediaTypeImageManifest, []byte(`[`), false},
	} {
		err := checkKind(ocispec.Descriptor{MediaType: c.mt, Digest: digest.FromBytes(c.body)}, c.body)
		if (err == nil) != c.ok || (err != nil && !errdefs.IsInvalidArgument(err)) {
			t.Errorf("%s %s: %v", c.mt, c.body, err)
		}
	}
}
