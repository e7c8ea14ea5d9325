package images

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// Docker's media types beside the OCI ones.
const (
	mediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
)

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func isManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

func isConfigType(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == mediaTypeDockerConfig
}

func isLayerType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		mediaTypeDockerLayer, mediaTypeDockerLayerTar:
		return true
	}
	return false
}

// isUncompressedLayer: the blob's digest is its diff ID.
func isUncompressedLayer(mt string) bool {
	return mt == ocispec.MediaTypeImageLayer || mt == mediaTypeDockerLayerTar
}

// checkKind refuses (InvalidArgument) a manifest or index blob that is not
// what its descriptor says: a descriptor saying "manifest" must not lead to
// an index (whose platforms and layers would then be read under the wrong
// rules), nor the reverse. The blob's own mediaType, when it has one, must
// equal the descriptor's; its fields must be those of its kind.
func checkKind(d ocispec.Descriptor, body []byte) error {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Config        json.RawMessage `json:"config"`
		Layers        json.RawMessage `json:"layers"`
		Manifests     json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return invalid("%s: bad JSON: %v", d.Digest, err)
	}
	if probe.SchemaVersion != 2 {
		return invalid("%s: schemaVersion %d, want 2", d.Digest, probe.SchemaVersion)
	}
	if probe.MediaType != "" && probe.MediaType != d.MediaType {
		return invalid("%s: the descriptor says %s but the blob says %s", d.Digest, d.MediaType, probe.MediaType)
	}
	switch {
	case isIndexType(d.MediaType):
		if probe.Config != nil || probe.Layers != nil || probe.Manifests == nil {
			return invalid("%s: the descriptor says index (%s) but the blob is not an index", d.Digest, d.MediaType)
		}
	case isManifestType(d.MediaType):
		if probe.Manifests != nil || probe.Config == nil {
			return invalid("%s: the descriptor says manifest (%s) but the blob is not a manifest", d.Digest, d.MediaType)
		}
	default:
		return invalid("%s: unsupported media type %q", d.Digest, d.MediaType)
	}
	return nil
}

// sizeMismatch and digestMismatch are the two ways a blob can differ from
// its descriptor; both name what was expected and what was found.
func sizeMismatch(what string, want, got int64) error {
	return fmt.Errorf("import: %s: size mismatch: descriptor says %d bytes, the archive has %d: %w", what, want, got, errdefs.ErrInvalidArgument)
}

func digestMismatch(what string, want, got digest.Digest) error {
	return fmt.Errorf("import: %s: digest mismatch: expected %s, got %s: %w", what, want, got, errdefs.ErrInvalidArgument)
}
