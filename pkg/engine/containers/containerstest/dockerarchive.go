package containerstest

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

type archiveImage struct {
	name         string
	configDigest string
	config       *ocispec.Image
}

// readDockerArchive reads the images a docker-archive's manifest.json
// names, each with its config, as the real supervisor's import does (it
// is what `docker load` sends), so that the engine's tests load the same
// archives from the fake and from a real supervisor.
func readDockerArchive(r io.Reader) ([]archiveImage, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") { // manifest.json and the configs
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %v: %w", h.Name, err, errdefs.ErrInvalidArgument)
		}
		files[h.Name] = b
	}
	mb, ok := files["manifest.json"]
	if !ok {
		return nil, fmt.Errorf("archive has no manifest.json: %w", errdefs.ErrInvalidArgument)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		return nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var out []archiveImage
	for _, m := range manifest {
		cb, ok := files[m.Config]
		if !ok {
			return nil, fmt.Errorf("archive has no config %s: %w", m.Config, errdefs.ErrInvalidArgument)
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(cb, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %v: %w", m.Config, err, errdefs.ErrInvalidArgument)
		}
		img := archiveImage{configDigest: digest.FromBytes(cb).String(), config: &cfg}
		img.name = img.configDigest
		if len(m.RepoTags) > 0 {
			ref, err := reference.ParseNormalizedNamed(m.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("tag %q: %v: %w", m.RepoTags[0], err, errdefs.ErrInvalidArgument)
			}
			img.name = reference.TagNameOnly(ref).String()
		}
		out = append(out, img)
	}
	return out, nil
}
