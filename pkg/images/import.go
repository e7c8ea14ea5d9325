package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"runtime"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
)

const (
	maxJSON = 8 << 20 // manifest.json, index.json, manifests and configs

	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

var bareTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func invalid(format string, args ...any) error {
	return fmt.Errorf("import: "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// archiveFile is an image archive spooled to disk, with the position of
// every file it holds.
type archiveFile struct {
	f       *os.File
	entries map[string]*tar.Header
	offsets map[string]int64
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func indexArchive(f *os.File) (*archiveFile, error) {
	a := &archiveFile{f: f, entries: map[string]*tar.Header{}, offsets: map[string]int64{}}
	cr := &countReader{r: f}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("reading archive: %v", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		a.entries[name] = hdr
		// archive/tar reads nothing ahead: the data of this entry starts here.
		a.offsets[name] = cr.n
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return nil, invalid("reading archive entry %q: %v", hdr.Name, err)
		}
	}
	if len(a.entries) == 0 {
		return nil, invalid("empty archive")
	}
	return a, nil
}

// open returns the data of the archive file name, following symlinks
// (docker save links identical layers) within the archive.
func (a *archiveFile) open(name string) (*io.SectionReader, int64, error) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	for range 8 {
		hdr, ok := a.entries[name]
		if !ok {
			return nil, 0, invalid("archive has no file %q", name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			return io.NewSectionReader(a.f, a.offsets[name], hdr.Size), hdr.Size, nil
		case tar.TypeSymlink:
			name = strings.TrimPrefix(path.Clean("/"+path.Join(path.Dir(name), hdr.Linkname)), "/")
		case tar.TypeLink:
			name = strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/")
		default:
			return nil, 0, invalid("archive entry %q is not a file", name)
		}
	}
	return nil, 0, invalid("archive entry %q: too many links", name)
}

func (a *archiveFile) readJSON(name string, v any) ([]byte, error) {
	r, size, err := a.open(name)
	if err != nil {
		return nil, err
	}
	if size > maxJSON {
		return nil, invalid("%s: %d bytes is too large", name, size)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("import: %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, invalid("%s: bad JSON: %v", name, err)
	}
	return b, nil
}

// Import reads an image archive from r: a docker-archive (`docker save`) or
// an OCI image layout tar. It stores every blob verified, unpacks the layers
// and records the names; name names an image the archive leaves unnamed. On
// error no name is recorded (blobs and unpacked layers already written stay,
// verified, for garbage collection).
func (s *Store) Import(ctx context.Context, r io.Reader, name string) ([]Image, error) {
	if name != "" {
		n, err := Normalize(name)
		if err != nil {
			return nil, err
		}
		name = n
	}
	f, err := os.CreateTemp(s.tmp, "import-")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return nil, fmt.Errorf("import: receiving archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	a, err := indexArchive(f)
	if err != nil {
		return nil, err
	}
	var imgs []Image
	switch {
	case a.entries["index.json"] != nil && a.entries["oci-layout"] != nil:
		// Also what `docker save` writes since Docker 25 (beside a
		// manifest.json): the OCI index keeps the manifests' digests.
		imgs, err = s.importOCI(ctx, a, name)
	case a.entries["manifest.json"] != nil:
		imgs, err = s.importDocker(ctx, a, name)
	default:
		return nil, invalid("neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)")
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, imgs); err != nil {
		return nil, fmt.Errorf("import: recording images: %w", err)
	}
	return imgs, nil
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) importDocker(ctx context.Context, a *archiveFile, name string) ([]Image, error) {
	var manifests []dockerManifest
	if _, err := a.readJSON("manifest.json", &manifests); err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, invalid("manifest.json lists no image")
	}
	var imgs []Image
	for _, m := range manifests {
		var cfg ocispec.Image
		cfgBytes, err := a.readJSON(m.Config, &cfg)
		if err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, invalid("%s: %d layers but config lists %d diff IDs", m.Config, len(m.Layers), len(cfg.RootFS.DiffIDs))
		}
		cfgDesc, err := s.writeBlob(ctx, bytes.NewReader(cfgBytes), ocispec.MediaTypeImageConfig, "", int64(len(cfgBytes)))
		if err != nil {
			return nil, err
		}
		mf := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    cfgDesc,
			Layers:    []ocispec.Descriptor{},
		}
		up := s.startUnpack(ctx, cfg.RootFS.DiffIDs)
		for _, l := range m.Layers {
			r, size, err := a.open(l)
			if err != nil {
				up.abort()
				return nil, err
			}
			d, err := s.writeBlob(ctx, r, "", "", size)
			if err != nil {
				up.abort()
				return nil, fmt.Errorf("layer %s: %w", l, err)
			}
			mf.Layers = append(mf.Layers, d)
			up.add(d)
		}
		chain, err := up.wait()
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		mfBytes, err := json.Marshal(mf)
		if err != nil {
			return nil, err
		}
		target, err := s.writeBlob(ctx, bytes.NewReader(mfBytes), ocispec.MediaTypeImageManifest, "", int64(len(mfBytes)))
		if err != nil {
			return nil, err
		}
		img := Image{Target: target, Config: cfgDesc, ChainID: chain, Size: target.Size + cfgDesc.Size}
		for _, l := range mf.Layers {
			img.Size += l.Size
		}
		var names []string
		for _, t := range m.RepoTags {
			n, err := Normalize(t)
			if err != nil {
				return nil, fmt.Errorf("import: RepoTags: %w", err)
			}
			names = append(names, n)
		}
		if len(names) == 0 && name != "" {
			names = []string{name}
		}
		if len(names) == 0 {
			names = []string{cfgDesc.Digest.String()}
		}
		for _, n := range names {
			img.Name = n
			imgs = append(imgs, img)
		}
	}
	return imgs, nil
}

// writeBlob stores r in the content store (verified against expected when
// set) and returns its descriptor; a layer's media type is found from its
// magic bytes when mediaType is "".
func (s *Store) writeBlob(ctx context.Context, r io.Reader, mediaType string, expected digest.Digest, size int64) (ocispec.Descriptor, error) {
	br := bufio.NewReader(r)
	if mediaType == "" {
		magic, _ := br.Peek(4)
		switch {
		case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
			mediaType = ocispec.MediaTypeImageLayerGzip
		case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			mediaType = ocispec.MediaTypeImageLayerZstd
		default:
			mediaType = ocispec.MediaTypeImageLayer
		}
	}
	info, err := s.content.Write(ctx, br, expected, size)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("import: %w", err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: info.Digest, Size: info.Size}, nil
}

func (a *archiveFile) blob(d ocispec.Descriptor) (*io.SectionReader, error) {
	if err := content.CheckDigest(d.Digest); err != nil {
		return nil, fmt.Errorf("import: descriptor: %w", err)
	}
	r, size, err := a.open(path.Join("blobs", string(d.Digest.Algorithm()), d.Digest.Encoded()))
	if err != nil {
		return nil, err
	}
	if size != d.Size {
		return nil, invalid("blob %s: %d bytes, descriptor says %d", d.Digest, size, d.Size)
	}
	return r, nil
}

func (s *Store) importOCI(ctx context.Context, a *archiveFile, name string) ([]Image, error) {
	var idx ocispec.Index
	if _, err := a.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	if len(idx.Manifests) == 0 {
		return nil, invalid("index.json lists no manifest")
	}
	var imgs []Image
	for _, top := range idx.Manifests {
		img, err := s.importOCIManifest(ctx, a, top)
		if err != nil {
			return nil, err
		}
		n := top.Annotations["io.containerd.image.name"]
		if n == "" {
			n = top.Annotations[ocispec.AnnotationRefName]
		}
		switch {
		case n == "":
		case bareTag.MatchString(n):
			// A bare tag ("latest") completes the name given by the client.
			if name != "" {
				nn, _ := reference.ParseNormalizedNamed(name)
				if t, err := reference.WithTag(reference.TrimNamed(nn), n); err == nil {
					img.Name = t.String()
				}
			}
		default:
			norm, err := Normalize(n)
			if err != nil {
				return nil, fmt.Errorf("import: index.json: %w", err)
			}
			img.Name = norm
		}
		if img.Name == "" {
			img.Name = name
		}
		if img.Name == "" {
			img.Name = img.Config.Digest.String()
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

func (s *Store) readBlobJSON(ctx context.Context, a *archiveFile, d ocispec.Descriptor, v any) ([]byte, error) {
	if d.Size > maxJSON {
		return nil, invalid("%s: %d bytes is too large", d.Digest, d.Size)
	}
	r, err := a.blob(d)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// Verified with the descriptor's own algorithm (sha256 or sha512).
	if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest {
		return nil, invalid("blob digest mismatch: expected %s, got %s", d.Digest, got)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, invalid("%s: bad JSON: %v", d.Digest, err)
	}
	if _, err := s.writeBlob(ctx, bytes.NewReader(b), d.MediaType, d.Digest, d.Size); err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Store) importOCIManifest(ctx context.Context, a *archiveFile, top ocispec.Descriptor) (Image, error) {
	desc := top
	var size int64
	for range 4 {
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
			var idx ocispec.Index
			if _, err := s.readBlobJSON(ctx, a, desc, &idx); err != nil {
				return Image{}, err
			}
			size += desc.Size
			var chosen *ocispec.Descriptor
			for i, m := range idx.Manifests {
				if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
					chosen = &idx.Manifests[i]
					break
				}
			}
			if chosen == nil {
				return Image{}, invalid("index %s has no manifest for linux/%s", desc.Digest, runtime.GOARCH)
			}
			desc = *chosen
			continue
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		default:
			return Image{}, invalid("unsupported media type %q", desc.MediaType)
		}
		var mf ocispec.Manifest
		if _, err := s.readBlobJSON(ctx, a, desc, &mf); err != nil {
			return Image{}, err
		}
		var cfg ocispec.Image
		if _, err := s.readBlobJSON(ctx, a, mf.Config, &cfg); err != nil {
			return Image{}, err
		}
		size += desc.Size + mf.Config.Size
		if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
			return Image{}, invalid("%s: %d layers but config lists %d diff IDs", desc.Digest, len(mf.Layers), len(cfg.RootFS.DiffIDs))
		}
		up := s.startUnpack(ctx, cfg.RootFS.DiffIDs)
		for _, l := range mf.Layers {
			r, err := a.blob(l)
			if err != nil {
				up.abort()
				return Image{}, err
			}
			if _, err := s.writeBlob(ctx, r, l.MediaType, l.Digest, l.Size); err != nil {
				up.abort()
				return Image{}, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			size += l.Size
			up.add(l)
		}
		chain, err := up.wait()
		if err != nil {
			return Image{}, fmt.Errorf("import: %w", err)
		}
		return Image{Target: top, Config: mf.Config, ChainID: chain, Size: size}, nil
	}
	return Image{}, invalid("nested indexes too deep")
}
