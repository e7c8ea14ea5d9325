package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/platforms"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// TestImageListExtras: shared-size, manifests and identity are computed
// only when asked, from the layers, blobs, snapshots and labels the
// supervisor has; image inspect's manifests are the list's. base:1 and
// app:1 share layer A; app:1's layer B blob is gone (its snapshot stays)
// and its target is an index.
func TestImageListExtras(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	e.sup.DeleteImage(ctx, "docker.io/library/busybox:latest")
	blob := func(body string) ocispec.Descriptor {
		d := digest.FromString(body)
		e.sup.Blobs[d.String()] = []byte(body)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(body))}
	}
	blobA := blob(strings.Repeat("a", 700))
	blobB := ocispec.Descriptor{Digest: digest.FromString("gone"), Size: 90}
	baseCfg, appCfg := blob("base config"), blob("app config, longer")
	manifest := func(cfg ocispec.Descriptor, layers ...ocispec.Descriptor) ocispec.Descriptor {
		b, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
		return blob(string(b))
	}
	baseM, appM := manifest(baseCfg, blobA), manifest(appCfg, blobA, blobB)
	arm := &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	appM.Platform = arm
	idx, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other platform"), Size: 5, Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}},
		appM,
	}})
	appIdx := blob(string(idx))

	rootfs := func(diffs ...string) ocispec.RootFS {
		r := ocispec.RootFS{Type: "layers"}
		for _, d := range diffs {
			r.DiffIDs = append(r.DiffIDs, digest.Digest(d))
		}
		return r
	}
	appImg := &ocispec.Image{Platform: *arm, RootFS: rootfs(layerA, layerB)}
	e.sup.AddImage("docker.io/library/base:1", baseCfg.Digest.String(), &ocispec.Image{RootFS: rootfs(layerA)})
	e.sup.AddImage("docker.io/library/app:1", appCfg.Digest.String(), appImg)
	target := func(name string, d ocispec.Descriptor, mt string) {
		e.sup.Images[name].Target = &supervisorv1.Descriptor{MediaType: mt, Digest: d.Digest.String(), Size: d.Size}
	}
	target("docker.io/library/base:1", baseM, ocispec.MediaTypeImageManifest)
	target("docker.io/library/app:1", appIdx, ocispec.MediaTypeImageIndex)
	e.sup.Usages[layerA] = 1000
	e.sup.Usages[images.ChainIDs(appImg)[1]] = 200
	e.sup.Labels[baseCfg.Digest.String()] = map[string]string{
		supervisorv1.DistributionSourceLabelPrefix + "docker.io":             "library/base",
		supervisorv1.DistributionSourceLabelPrefix + "registry.example:5000": "team/base,team/mirror",
	}
	c, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "app:1", Cmd: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}

	list := func(query string) map[string]image.Summary {
		t.Helper()
		resp, body := e.do(t, "GET", "/images/json"+query, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, body)
		}
		var sums []image.Summary
		if err := json.Unmarshal([]byte(body), &sums); err != nil {
			t.Fatal(err)
		}
		out := map[string]image.Summary{}
		for _, s := range sums {
			out[s.RepoTags[0]] = s
		}
		return out
	}

	t.Run("default", func(t *testing.T) {
		for name, s := range list("") {
			if s.SharedSize != -1 || s.Manifests != nil {
				t.Errorf("%s: SharedSize %d, Manifests %+v", name, s.SharedSize, s.Manifests)
			}
		}
	})

	t.Run("shared-size", func(t *testing.T) {
		for name, s := range list("?shared-size=1") {
			// Size is compressed (the supervisor's): so is what is shared.
			if s.SharedSize != 700 || s.Manifests != nil {
				t.Errorf("%s: SharedSize %d, Manifests %+v", name, s.SharedSize, s.Manifests)
			}
		}
	})

	t.Run("manifests", func(t *testing.T) {
		// dockerd's gate: clients older than API 1.47 get no Manifests.
		if resp, body := e.do(t, "GET", "/v1.46/images/json?manifests=1", nil); resp.StatusCode != 200 || strings.Contains(body, `"Manifests"`) {
			t.Errorf("manifests=1 at API 1.46: %d %s", resp.StatusCode, body)
		}
		checkManifests(t, list("?manifests=1"), manifestWants{
			// Images with no config platform are this host's.
			"base:1": {baseM.Digest, true, descSize(baseM, baseCfg, blobA), 1000, platforms.OfConfig(&ocispec.Image{}), []string{}},
			// The index's entry is the manifest, with the entry's platform;
			// the missing blob B is neither counted nor available.
			"app:1": {appM.Digest, false, descSize(appM, appCfg, blobA), 1200, *arm, []string{c.ID}},
		})
	})

	t.Run("inspect manifests", func(t *testing.T) {
		listed := list("?manifests=1")
		inspect := func(path string) (image.InspectResponse, string) {
			t.Helper()
			resp, body := e.do(t, "GET", path, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			var got image.InspectResponse
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			return got, body
		}
		for _, name := range []string{"base:1", "app:1"} {
			got, _ := inspect("/images/" + name + "/json?manifests=1")
			want, _ := json.Marshal(listed[name].Manifests)
			if b, _ := json.Marshal(got.Manifests); len(got.Manifests) != 1 || string(b) != string(want) {
				t.Errorf("inspect %s manifests:\n%s\nthe list's:\n%s", name, b, want)
			}
			// Not asked, or asked by a client older than API 1.48
			// (dockerd's gate): no Manifests key at all.
			for _, path := range []string{"/images/" + name + "/json", "/v1.47/images/" + name + "/json?manifests=1"} {
				if _, body := inspect(path); strings.Contains(body, `"Manifests"`) {
					t.Errorf("%s: %s", path, body)
				}
			}
		}
		resp, body := e.do(t, "GET", "/images/app:1/json?manifests=1&platform="+platformQuery(*arm), nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "conflicting options: manifests and platform options cannot both be set") {
			t.Errorf("inspect with manifests and platform: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("identity", func(t *testing.T) {
		if resp, body := e.do(t, "GET", "/images/json?identity=1", nil); resp.StatusCode != 400 || !strings.Contains(body, "identity=1 requires manifests=1") {
			t.Errorf("identity without manifests: %d %s", resp.StatusCode, body)
		}
		got := list("?manifests=1&identity=1")
		if len(got["base:1"].Manifests) != 1 || len(got["app:1"].Manifests) != 1 {
			t.Fatalf("no manifests: %+v", got)
		}
		var pulls []string
		if id := got["base:1"].Manifests[0].ImageData.Identity; id != nil {
			for _, p := range id.Pull {
				pulls = append(pulls, p.Repository)
			}
		}
		if strings.Join(pulls, " ") != "docker.io/library/base registry.example:5000/team/base registry.example:5000/team/mirror" {
			t.Errorf("identity of a pulled image: %v", pulls)
		}
		if id := got["app:1"].Manifests[0].ImageData.Identity; id == nil || len(id.Pull) != 0 {
			t.Errorf("identity of an image with no source: %+v", id)
		}
	})
}

type manifestWants map[string]struct {
	id        digest.Digest
	available bool
	content   int64
	unpacked  int64
	platform  ocispec.Platform
	used      []string
}

func descSize(ds ...ocispec.Descriptor) (n int64) {
	for _, d := range ds {
		n += d.Size
	}
	return n
}

func checkManifests(t *testing.T, got map[string]image.Summary, wants manifestWants) {
	t.Helper()
	for name, want := range wants {
		s := got[name]
		if s.SharedSize != -1 || len(s.Manifests) != 1 {
			t.Fatalf("%s: SharedSize %d, %d manifests", name, s.SharedSize, len(s.Manifests))
		}
		m := s.Manifests[0]
		if m.ID != want.id.String() || m.Descriptor.Digest != want.id || m.Kind != image.ManifestKindImage || m.Available != want.available {
			t.Errorf("%s: %+v", name, m)
		}
		if m.Size.Content != want.content || m.ImageData == nil || m.ImageData.Size.Unpacked != want.unpacked || m.Size.Total != want.content+want.unpacked {
			t.Errorf("%s: sizes %+v %+v, want content %d unpacked %d", name, m.Size, m.ImageData, want.content, want.unpacked)
			continue
		}
		if m.ImageData.Platform.OS != want.platform.OS || m.ImageData.Platform.Architecture != want.platform.Architecture || m.Descriptor.Platform == nil || m.Descriptor.Platform.Architecture != want.platform.Architecture {
			t.Errorf("%s: platform %+v, descriptor's %+v", name, m.ImageData.Platform, m.Descriptor.Platform)
		}
		if strings.Join(m.ImageData.Containers, ",") != strings.Join(want.used, ",") || m.ImageData.Containers == nil {
			t.Errorf("%s: containers %#v, want %v", name, m.ImageData.Containers, want.used)
		}
		if m.ImageData.Identity != nil {
			t.Errorf("%s: identity %+v without identity=1", name, m.ImageData.Identity)
		}
	}

}
