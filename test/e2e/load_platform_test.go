package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/test/image"
)

// docker load --platform through the docker CLI. A docker-archive holds
// one platform: asked for another, nothing is loaded and the error names
// it. Of a multi-platform OCI archive, the platform asked for is loaded.
// (The test images are linux/amd64, the only platform that runs here.)
func TestLoadPlatformDocker(t *testing.T) {
	s := newStack(t)
	plain := filepath.Join(s.root, "plain.tar")
	if err := image.WriteDockerArchive(plain, "plain:1"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.docker("load", "--platform", "linux/s390x", "-i", plain); code == 0 || !strings.Contains(errOut, "linux/s390x") || !strings.Contains(errOut, "plain:1") {
		t.Errorf("load of an amd64 archive for linux/s390x: exit %d: %s", code, errOut)
	}
	if out := s.mustDocker("images", "-q", "plain:1"); out != "" {
		t.Errorf("a refused load stored the image: %q", out)
	}
	if out := s.mustDocker("load", "--platform", "linux/amd64", "-i", plain); !strings.Contains(out, "Loaded image: plain:1") {
		t.Errorf("load for linux/amd64: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "plain:1", "echo", "ok"); out != "ok\n" {
		t.Errorf("run of the loaded image: %q", out)
	}

	bb, err := image.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	other, err := bb.ForPlatform(ocispec.Platform{OS: "linux", Architecture: "s390x"})
	if err != nil {
		t.Fatal(err)
	}
	multi := filepath.Join(s.root, "multi.tar")
	f, err := os.Create(multi)
	if err != nil {
		t.Fatal(err)
	}
	err = image.WriteOCIIndexArchiveTo(f, "example.com/multi:1", bb, other)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.docker("load", "--platform", "linux/arm64", "-i", multi); code == 0 || !strings.Contains(errOut, "linux/arm64") || !strings.Contains(errOut, "example.com/multi:1") {
		t.Errorf("load of a platform the index lacks: exit %d: %s", code, errOut)
	}
	arch := func() string {
		return strings.TrimSpace(s.mustDocker("image", "inspect", "-f", "{{.Architecture}}", "example.com/multi:1"))
	}
	if out := s.mustDocker("load", "--platform", "linux/s390x", "-i", multi); !strings.Contains(out, "Loaded image: example.com/multi:1") || arch() != "s390x" {
		t.Errorf("load of the index for linux/s390x: %q, architecture %s", out, arch())
	}
	s.mustDocker("load", "--platform", "linux/amd64", "-i", multi)
	if a := arch(); a != "amd64" {
		t.Errorf("load of the index for linux/amd64: architecture %s", a)
	}
	if out := s.mustDocker("run", "--rm", "example.com/multi:1", "echo", "ok"); out != "ok\n" {
		t.Errorf("run of the image loaded from the index: %q", out)
	}
}
