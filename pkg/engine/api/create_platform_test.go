package api

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// create's platform must be the image's: another one is not found (the
// client may pull it), a malformed one is a bad request.
func TestCreatePlatform(t *testing.T) {
	e, full := newFullEnv(t)
	full.AddImage("docker.io/library/plat:1", "sha256:"+strings.Repeat("c", 64), &ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: []string{"sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{busyboxLayer}},
	})
	ctx := context.Background()
	create := func(platform string) error {
		_, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "plat:1"}, Platform: parseOCIPlatform(platform)})
		return err
	}
	for _, p := range []string{"", "linux", "linux/amd64", "linux/x86_64"} {
		if err := create(p); err != nil {
			t.Errorf("platform %q: %v", p, err)
		}
	}
	for _, p := range []string{"linux/arm64", "windows/amd64", "linux/amd64/v9"} {
		if err := create(p); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "it is stored for linux/amd64 only") {
			t.Errorf("platform %q: %v, want not found", p, err)
		}
	}
	resp, body := e.do(t, "POST", "/containers/create?platform=a/b/c/d", `{"Image":"plat:1"}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid platform") {
		t.Errorf("bad platform: %d %s", resp.StatusCode, body)
	}
}

func parseOCIPlatform(s string) *ocispec.Platform {
	if s == "" {
		return nil
	}
	parts := append(strings.SplitN(s, "/", 3), "", "")
	return &ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
}
