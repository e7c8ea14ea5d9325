package images

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

var (
	hostPlatform  = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	otherPlatform = ocispec.Platform{OS: "linux", Architecture: map[bool]string{true: "riscv64", false: "s390x"}[runtime.GOARCH == "s390x"]}
	thirdPlatform = ocispec.Platform{OS: "linux", Architecture: map[bool]string{true: "ppc64le", false: "arm64"}[runtime.GOARCH == "arm64"]}
)

// platformLayout is an OCI layout of one image: an index with a manifest
// per platform, each with a layer of its own. Its parts are by platform
// (platforms.Format), for a test to break or look for.
type platformLayout struct {
	parts            ociParts
	index            ocispec.Descriptor
	manifest, config map[string]ocispec.Descriptor
	layer            map[string][]byte
}

func newPlatformLayout(t testing.TB, name string, ps ...ocispec.Platform) *platformLayout {
	l := &platformLayout{parts: ociParts{blobs: map[digest.Digest][]byte{}},
		manifest: map[string]ocispec.Descriptor{}, config: map[string]ocispec.Descriptor{}, layer: map[string][]byte{}}
	var mds []ocispec.Descriptor
	for _, p := range ps {
		key := platforms.Format(p)
		layer := tarOf(t, file{name: "platform", body: key})
		cfg, _ := json.Marshal(ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
		ld := putBlob(l.parts.blobs, ocispec.MediaTypeImageLayer, layer)
		cd := putBlob(l.parts.blobs, ocispec.MediaTypeImageConfig, cfg)
		mf, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
		md := putBlob(l.parts.blobs, ocispec.MediaTypeImageManifest, mf)
		md.Platform = &p
		l.manifest[key], l.config[key], l.layer[key] = md, cd, layer
		mds = append(mds, md)
	}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: mds})
	l.index = putBlob(l.parts.blobs, ocispec.MediaTypeImageIndex, idx)
	top := l.index
	top.Annotations = map[string]string{"io.containerd.image.name": name}
	l.parts.index = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
	return l
}

// dropPlatform leaves p's blobs out, as `docker save --platform` does.
func (l *platformLayout) dropPlatform(p ocispec.Platform) {
	key := platforms.Format(p)
	delete(l.parts.blobs, l.manifest[key].Digest)
	delete(l.parts.blobs, l.config[key].Digest)
	delete(l.parts.blobs, digest.FromBytes(l.layer[key]))
}

// hasBlob tells whether the content store holds d.
func hasBlob(t *testing.T, s *Store, d digest.Digest) bool {
	_, err := s.content.Info(context.Background(), d)
	if err != nil && !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// refused checks that an import asked for want fails with class (is) and
// a message naming each of words, and leaves the store as it was.
func refused(t *testing.T, s *Store, arch []byte, is func(error) bool, words []string, want ...ocispec.Platform) {
	t.Helper()
	before := storeState(t, s)
	_, err := s.Import(context.Background(), bytes.NewReader(arch), "", want...)
	if err == nil || !is(err) {
		t.Fatalf("import for %v: %v", want, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("import for %v: the error does not name %s: %v", want, w, err)
		}
	}
	if after := storeState(t, s); !slices.Equal(before, after) {
		t.Errorf("a refused import changed the store:\n%v\n->\n%v", before, after)
	}
}

// A docker-archive holds one platform per image: asked for it, in any
// spelling, it is imported.
func TestImportPlatformPresent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := tarOf(t, file{name: "f", body: "far"})
	far := dockerArchive(t, []string{"far:1"}, [][]byte{l}, func(cfg map[string]any, _ map[string][]byte) {
		cfg["architecture"] = otherPlatform.Architecture
	})
	imgs, err := s.Import(ctx, bytes.NewReader(far), "", otherPlatform)
	if err != nil || len(imgs) != 1 || imgs[0].Name != "docker.io/library/far:1" || imgs[0].ChainID != digest.FromBytes(l) {
		t.Fatalf("import of far:1 for its platform: %v %+v", err, imgs)
	}
	amd := dockerArchive(t, []string{"amd:1"}, [][]byte{l}, nil) // amd64
	if _, err := s.Import(ctx, bytes.NewReader(amd), "", ocispec.Platform{OS: "linux", Architecture: "x86_64"}); err != nil {
		t.Errorf("import of amd:1 asked as x86_64: %v", err)
	}
	// An index of another platform only (`docker save --platform` of a
	// multi-platform image), which a load without platform refuses.
	foreign := newPlatformLayout(t, "example.com/foreign:1", otherPlatform)
	imgs, err = s.Import(ctx, bytes.NewReader(foreign.parts.tar(t)), "", otherPlatform)
	if key := platforms.Format(otherPlatform); err != nil || len(imgs) != 1 || imgs[0].Config.Digest != foreign.config[key].Digest {
		t.Errorf("import of an index of %s only: %v %+v", key, err, imgs)
	}
}

// An archive without a platform asked for is refused, naming the
// platform and the image, and nothing of it is stored: not the images of
// the archive that have it either.
func TestImportPlatformAbsent(t *testing.T) {
	s := newStore(t)
	l := tarOf(t, file{name: "f", body: "far"})
	far := dockerArchive(t, []string{"far:1"}, [][]byte{l}, func(cfg map[string]any, _ map[string][]byte) {
		cfg["architecture"] = otherPlatform.Architecture
	})
	refused(t, s, far, errdefs.IsNotFound, []string{platforms.Format(hostPlatform), "far:1", "it holds " + platforms.Format(otherPlatform)}, hostPlatform)
	// Every platform asked for must be there.
	refused(t, s, far, errdefs.IsNotFound, []string{platforms.Format(hostPlatform), "far:1"}, otherPlatform, hostPlatform)
	// A variant asked for must be the image's.
	refused(t, s, far, errdefs.IsNotFound, []string{otherPlatform.Architecture + "/v9"}, ocispec.Platform{OS: "linux", Architecture: otherPlatform.Architecture, Variant: "v9"})

	both := newPlatformLayout(t, "example.com/both:1", hostPlatform, otherPlatform)
	one := newPlatformLayout(t, "example.com/one:1", hostPlatform)
	for d, b := range one.parts.blobs {
		both.parts.blobs[d] = b
	}
	both.parts.index.Manifests = append(both.parts.index.Manifests, one.parts.index.Manifests...)
	refused(t, s, both.parts.tar(t), errdefs.IsNotFound, []string{platforms.Format(otherPlatform), "example.com/one:1", "it holds " + platforms.Format(hostPlatform)}, otherPlatform)
	// An index whose manifest of the platform was left out of the archive.
	partial := newPlatformLayout(t, "example.com/partial:1", hostPlatform, otherPlatform)
	partial.dropPlatform(otherPlatform)
	refused(t, s, partial.parts.tar(t), errdefs.IsNotFound, []string{platforms.Format(otherPlatform), "example.com/partial:1", "it holds " + platforms.Format(hostPlatform) + ")"}, otherPlatform)
	if st := storeState(t, s); len(st) != 0 {
		t.Errorf("refused imports stored %v", st)
	}
}

// Asked for one platform of a multi-platform index, the import takes that
// manifest, its config and layers (unpacked), and nothing of the others;
// the image's target stays the index, as after a pull.
func TestImportPlatformFromIndex(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := newPlatformLayout(t, "example.com/multi:1", hostPlatform, otherPlatform, thirdPlatform)
	arch := l.parts.tar(t)
	other, host := platforms.Format(otherPlatform), platforms.Format(hostPlatform)

	refused(t, s, arch, errdefs.IsNotImplemented, []string{other, host, "example.com/multi:1"}, otherPlatform, hostPlatform)
	refused(t, s, arch, errdefs.IsNotFound, []string{"linux/mips64", "example.com/multi:1", "it holds " + host + ", " + other + ", " + platforms.Format(thirdPlatform)},
		ocispec.Platform{OS: "linux", Architecture: "mips64"})

	imgs, err := s.Import(ctx, bytes.NewReader(arch), "", otherPlatform)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("import for %s: %v %+v", other, err, imgs)
	}
	img := imgs[0]
	if img.Name != "example.com/multi:1" || img.Target.Digest != l.index.Digest || img.Config.Digest != l.config[other].Digest || img.ChainID != digest.FromBytes(l.layer[other]) {
		t.Errorf("image %+v, want target %s config %s", img, l.index.Digest, l.config[other].Digest)
	}
	for _, p := range []ocispec.Platform{otherPlatform, hostPlatform, thirdPlatform} {
		key := platforms.Format(p)
		want := key == other
		for what, d := range map[string]digest.Digest{"manifest": l.manifest[key].Digest, "config": l.config[key].Digest, "layer": digest.FromBytes(l.layer[key])} {
			if hasBlob(t, s, d) != want {
				t.Errorf("%s of %s stored: %v", what, key, !want)
			}
		}
		if _, err := s.snaps.Stat(ctx, digest.FromBytes(l.layer[key]).String()); (err == nil) != want {
			t.Errorf("layer of %s unpacked: %v", key, err == nil)
		}
	}
	if !hasBlob(t, s, l.index.Digest) {
		t.Error("the index is not stored")
	}
	if got, err := s.Get(ctx, "example.com/multi:1"); err != nil || got.Config.Digest != l.config[other].Digest {
		t.Errorf("get: %v %+v", err, got)
	}
}

// Without platforms, as always: an index gives this host's manifest, a
// docker-archive what it holds, of any platform.
func TestImportNoPlatform(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := newPlatformLayout(t, "example.com/multi:1", otherPlatform, hostPlatform)
	imgs, err := s.Import(ctx, bytes.NewReader(l.parts.tar(t)), "")
	if host := platforms.Format(hostPlatform); err != nil || len(imgs) != 1 || imgs[0].Config.Digest != l.config[host].Digest {
		t.Errorf("import of an index: %v %+v, want config %s", err, imgs, l.config[host].Digest)
	}
	partial := newPlatformLayout(t, "example.com/partial:1", hostPlatform, otherPlatform)
	partial.dropPlatform(otherPlatform)
	if _, err := s.Import(ctx, bytes.NewReader(partial.parts.tar(t)), ""); err != nil {
		t.Errorf("import of an index saved for this host only: %v", err)
	}
	far := dockerArchive(t, []string{"far:1"}, [][]byte{tarOf(t, file{name: "f", body: "far"})}, func(cfg map[string]any, _ map[string][]byte) {
		cfg["architecture"] = otherPlatform.Architecture
	})
	if imgs, err := s.Import(ctx, bytes.NewReader(far), ""); err != nil || len(imgs) != 1 || imgs[0].Name != "docker.io/library/far:1" {
		t.Errorf("import of a docker-archive of another platform: %v %+v", err, imgs)
	}
	foreign := newPlatformLayout(t, "example.com/foreign:1", otherPlatform)
	if _, err := s.Import(ctx, bytes.NewReader(foreign.parts.tar(t)), ""); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "linux/"+runtime.GOARCH) {
		t.Errorf("import of an index without this host's platform: %v", err)
	}
}

// An index's manifest is chosen as a pull chooses it (platforms.Best):
// arm/v7 takes the best variant it runs, and this host's platform is
// found in any spelling of it.
func TestImportPlatformBestMatch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	arm := func(v string) ocispec.Platform { return ocispec.Platform{OS: "linux", Architecture: "arm", Variant: v} }
	l := newPlatformLayout(t, "example.com/arm:1", arm("v5"), arm("v6"), otherPlatform)
	imgs, err := s.Import(ctx, bytes.NewReader(l.parts.tar(t)), "", arm("v7"))
	if v6 := platforms.Format(arm("v6")); err != nil || len(imgs) != 1 || imgs[0].Config.Digest != l.config[v6].Digest {
		t.Errorf("import for linux/arm/v7 of an index of v5 and v6: %v %+v, want config %s", err, imgs, l.config[v6].Digest)
	}
	// v6 serves both v7 and v6 there: one image, for both.
	if _, err := s.Import(ctx, bytes.NewReader(l.parts.tar(t)), "", arm("v7"), arm("v6")); err != nil {
		t.Errorf("import for linux/arm/v7 and v6 of an index of v5 and v6: %v", err)
	}
	// An index that holds both v6 and v7, each asked for, is two images:
	// v6 does not stand in for the v7 asked for.
	both := newPlatformLayout(t, "example.com/both:1", arm("v6"), arm("v7"))
	if _, err := s.Import(ctx, bytes.NewReader(both.parts.tar(t)), "", arm("v6"), arm("v7")); !errdefs.IsNotImplemented(err) {
		t.Errorf("import for linux/arm/v6 and v7 of an index of both: %v, want NotImplemented", err)
	}
	spelled := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if spelled == "" {
		return
	}
	host := ocispec.Platform{OS: "linux", Architecture: spelled}
	l = newPlatformLayout(t, "example.com/spelled:1", otherPlatform, host)
	imgs, err = s.Import(ctx, bytes.NewReader(l.parts.tar(t)), "")
	if key := platforms.Format(host); err != nil || len(imgs) != 1 || imgs[0].Config.Digest != l.config[key].Digest {
		t.Errorf("import without platform of an index with %s: %v %+v, want config %s", key, err, imgs, l.config[key].Digest)
	}
}
