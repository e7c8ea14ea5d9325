package distribution

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

// An index's entry is chosen as pkg/platforms matches platforms, as docker
// and containerd choose it: any spelling of the architecture, arm64's v8
// or none, the best arm variant a CPU runs. Attestations and entries
// without a platform are never chosen.
func TestChoosePlatform(t *testing.T) {
	plat := func(s string) *ocispec.Platform {
		f := strings.SplitN(s, "/", 3)
		p := &ocispec.Platform{OS: f[0], Architecture: f[1]}
		if len(f) > 2 {
			p.Variant = f[2]
		}
		return p
	}
	entry := func(p string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(p), Size: 1}
		if p != "" {
			d.Platform = plat(p)
		}
		return d
	}
	attestation := entry("unknown/unknown")
	attestation.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	busybox := ocispec.Index{Manifests: []ocispec.Descriptor{
		entry("linux/amd64"), entry("linux/arm/v5"), entry("linux/arm/v6"), entry("linux/arm/v7"),
		entry("linux/arm64/v8"), entry("linux/386"), attestation,
	}}
	for _, c := range []struct {
		idx        ocispec.Index
		want, pick string
	}{
		{busybox, "linux/amd64", "linux/amd64"},
		{busybox, "linux/x86_64", "linux/amd64"},
		{busybox, "Linux/AMD64", "linux/amd64"},
		{busybox, "linux/arm64", "linux/arm64/v8"},
		{busybox, "linux/aarch64", "linux/arm64/v8"},
		{busybox, "linux/arm64/v8", "linux/arm64/v8"},
		{busybox, "linux/arm/v7", "linux/arm/v7"},
		{busybox, "linux/arm/v6", "linux/arm/v6"},
		{busybox, "linux/arm", "linux/arm/v7"},
		{busybox, "linux/i386", "linux/386"},
		{ocispec.Index{Manifests: []ocispec.Descriptor{entry("linux/arm64"), entry("linux/amd64")}}, "linux/arm64/v8", "linux/arm64"},
		{ocispec.Index{Manifests: []ocispec.Descriptor{entry("linux/arm/v5"), entry("linux/arm/v6")}}, "linux/arm/v7", "linux/arm/v6"},
		{ocispec.Index{Manifests: []ocispec.Descriptor{entry("linux/x86_64")}}, "linux/amd64", "linux/x86_64"},
	} {
		got, err := choosePlatform(c.idx, *plat(c.want))
		if err != nil || got.Digest != digest.FromString(c.pick) {
			p := "none"
			if got.Platform != nil {
				p = platforms.Format(*got.Platform)
			}
			t.Errorf("%s: chose %s (%v), want %s", c.want, p, err, c.pick)
		}
	}
	for _, c := range []struct {
		idx        ocispec.Index
		want, list string
	}{
		{busybox, "linux/s390x", "(it has linux/amd64, linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/386)"},
		{ocispec.Index{Manifests: []ocispec.Descriptor{entry("linux/arm/v7")}}, "linux/arm/v6", "(it has linux/arm/v7)"},
		{ocispec.Index{Manifests: []ocispec.Descriptor{entry(""), attestation}}, "linux/amd64", "(it has no platform)"},
	} {
		_, err := choosePlatform(c.idx, *plat(c.want))
		if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "platform "+c.want+" ") || !strings.Contains(err.Error(), c.list) {
			t.Errorf("%s: %v, want NotFound naming it and %s", c.want, err, c.list)
		}
	}
}
