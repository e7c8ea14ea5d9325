package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// Export formats.
const (
	FormatDockerArchive = "docker-archive"
	FormatOCIArchive    = "oci-archive"
)

// Export writes the named images to w as a tar: an OCI image layout
// (oci-layout, index.json, blobs/sha256/...) holding the stored manifests,
// configs and layers byte for byte, so digests survive a round trip; the
// docker-archive format adds docker's manifest.json (as `docker save` does
// since Docker 25), which docker and podman load.
func (s *Store) Export(ctx context.Context, w io.Writer, names []string, format string) error {
	if format == "" {
		format = FormatDockerArchive
	}
	if format != FormatDockerArchive && format != FormatOCIArchive {
		return fmt.Errorf("export: unknown format %q (docker-archive or oci-archive): %w", format, errdefs.ErrInvalidArgument)
	}
	if len(names) == 0 {
		return fmt.Errorf("export: no image named: %w", errdefs.ErrInvalidArgument)
	}
	tw := tar.NewWriter(w)
	written := map[digest.Digest]bool{}
	algDirs := map[digest.Algorithm]bool{} // blobs/<alg>/ written, besides sha256
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	type dockerEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var dm []dockerEntry
	addBlob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		f, err := s.content.Open(ctx, d)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if alg := d.Algorithm(); alg != digest.SHA256 && !algDirs[alg] {
			if err := tw.WriteHeader(&tar.Header{Name: "blobs/" + alg.String() + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
			algDirs[alg] = true
		}
		if err := tw.WriteHeader(&tar.Header{Name: blobName(d), Mode: 0o444, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("export %s: %w", d, err)
		}
		written[d] = true
		return nil
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	for _, n := range names {
		img, err := s.Get(ctx, n)
		if err != nil {
			return err
		}
		target, mf, err := s.exportTarget(ctx, img)
		if err != nil {
			return err
		}
		// Indexes first, then manifest, config and layers.
		if target.Digest != img.Target.Digest || isIndexType(target.MediaType) {
			if err := s.walkIndex(ctx, target, addBlob); err != nil {
				return err
			}
		}
		if err := addBlob(mf.digest); err != nil {
			return err
		}
		e := dockerEntry{Config: blobName(mf.m.Config.Digest)}
		if err := addBlob(mf.m.Config.Digest); err != nil {
			return err
		}
		for _, l := range mf.m.Layers {
			if err := addBlob(l.Digest); err != nil {
				return err
			}
			e.Layers = append(e.Layers, blobName(l.Digest))
		}
		desc := ocispec.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size}
		if named, err := reference.ParseNormalizedNamed(img.Name); err == nil {
			if t, ok := named.(reference.Tagged); ok {
				desc.Annotations = map[string]string{
					"io.containerd.image.name": named.String(),
					ocispec.AnnotationRefName:  t.Tag(),
				}
				e.RepoTags = append(e.RepoTags, reference.FamiliarString(named))
			}
		}
		idx.Manifests = append(idx.Manifests, desc)
		dm = append(dm, e)
	}
	files := []struct {
		name string
		v    any
	}{{"oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}}, {"index.json", idx}}
	if format == FormatDockerArchive {
		files = append(files, struct {
			name string
			v    any
		}{"manifest.json", dm})
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o444, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

type loadedManifest struct {
	digest digest.Digest
	m      ocispec.Manifest
}

// exportTarget is the descriptor to export for img (its target, or the
// platform manifest when the index's other manifests are not here) and the
// manifest of this host's platform.
func (s *Store) exportTarget(ctx context.Context, img Image) (ocispec.Descriptor, loadedManifest, error) {
	target := img.Target
	for range 4 {
		b, err := s.content.ReadAll(ctx, target.Digest, maxJSON)
		if err != nil {
			return target, loadedManifest{}, err
		}
		if !isIndexType(target.MediaType) {
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return target, loadedManifest{}, fmt.Errorf("export: manifest %s: %v: %w", target.Digest, err, errdefs.ErrInvalidArgument)
			}
			return target, loadedManifest{digest: target.Digest, m: m}, nil
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return target, loadedManifest{}, fmt.Errorf("export: index %s: %v: %w", target.Digest, err, errdefs.ErrInvalidArgument)
		}
		var mine *ocispec.Descriptor
		all := true
		for i, m := range idx.Manifests {
			if b, err := s.content.ReadAll(ctx, m.Digest, maxJSON); err == nil {
				var mm ocispec.Manifest
				if json.Unmarshal(b, &mm) == nil && mm.Config.Digest == img.Config.Digest {
					mine = &idx.Manifests[i]
				}
			} else {
				all = false
			}
		}
		if mine == nil {
			return target, loadedManifest{}, fmt.Errorf("export: index %s: no manifest with config %s: %w", target.Digest, img.Config.Digest, errdefs.ErrNotFound)
		}
		if !all {
			target = *mine
			continue
		}
		b, _ = s.content.ReadAll(ctx, mine.Digest, maxJSON)
		var m ocispec.Manifest
		json.Unmarshal(b, &m)
		return target, loadedManifest{digest: mine.Digest, m: m}, nil
	}
	return target, loadedManifest{}, fmt.Errorf("export: nested indexes: %w", errdefs.ErrInvalidArgument)
}

// walkIndex adds an index and the manifests it lists.
func (s *Store) walkIndex(ctx context.Context, d ocispec.Descriptor, add func(digest.Digest) error) error {
	if err := add(d.Digest); err != nil {
		return err
	}
	if !isIndexType(d.MediaType) {
		return nil
	}
	b, err := s.content.ReadAll(ctx, d.Digest, maxJSON)
	if err != nil {
		return err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return err
	}
	for _, m := range idx.Manifests {
		if isIndexType(m.MediaType) {
			if err := s.walkIndex(ctx, m, add); err != nil {
				return err
			}
			continue
		}
		mb, err := s.content.ReadAll(ctx, m.Digest, maxJSON)
		if err != nil {
			return err
		}
		var mm ocispec.Manifest
		if err := json.Unmarshal(mb, &mm); err != nil {
			return err
		}
		for _, dd := range append([]ocispec.Descriptor{m, mm.Config}, mm.Layers...) {
			if err := add(dd.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// Create records name for target, as `docker tag` does: the config and
// chain ID are those of the image already recorded with that target.
// AlreadyExists if name is taken (by another target) unless overwrite.
//
// A name that is a digest must be the image's ID: the image is then kept
// without a name (what an untag of an image a container still uses leaves).
func (s *Store) Create(ctx context.Context, name string, target ocispec.Descriptor, overwrite bool) (Image, error) {
	n, err := Normalize(name)
	if d, derr := digest.Parse(name); derr == nil {
		n, err = d.String(), nil
	}
	if err != nil {
		return Image{}, err
	}
	var src *Image
	all, err := s.List(ctx)
	if err != nil {
		return Image{}, err
	}
	for i := range all {
		if all[i].Target.Digest == target.Digest {
			src = &all[i]
			break
		}
	}
	if src == nil {
		return Image{}, fmt.Errorf("tag %s: no image has target %s: %w", n, target.Digest, errdefs.ErrNotFound)
	}
	if _, derr := digest.Parse(n); derr == nil && n != src.Config.Digest.String() {
		return Image{}, fmt.Errorf("tag %s: a digest name must be the image's ID %s: %w", n, src.Config.Digest, errdefs.ErrInvalidArgument)
	}
	if old, err := s.Get(ctx, n); err == nil && old.Name == n && !overwrite {
		if old.Target.Digest == target.Digest {
			return old, nil
		}
		return Image{}, fmt.Errorf("image %s: %w", n, errdefs.ErrAlreadyExists)
	}
	img := *src
	img.Name = n
	if err := s.record(ctx, []Image{img}); err != nil {
		return Image{}, err
	}
	return s.Get(ctx, n)
}
