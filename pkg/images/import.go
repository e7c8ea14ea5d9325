package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
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

// archiveFile is an image archive spooled to disk, with the position and
// the sha256 of every file it holds (hashed while indexing, which reads every
// byte anyway), so that the whole archive is checked before anything of it
// is stored.
type archiveFile struct {
	f       *os.File
	entries map[string]*archiveEntry
}

type archiveEntry struct {
	hdr    *tar.Header
	offset int64
	sha256 digest.Digest // regular files only
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

func cleanName(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

func indexArchive(f *os.File) (*archiveFile, error) {
	a := &archiveFile{f: f, entries: map[string]*archiveEntry{}}
	cr := &countReader{r: f}
	tr := archive.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("reading archive: %v", err)
		}
		// archive/tar reads nothing ahead: the data of this entry starts here.
		e := &archiveEntry{hdr: hdr, offset: cr.n}
		a.entries[cleanName(hdr.Name)] = e
		var w io.Writer = io.Discard
		h := digest.SHA256.Digester()
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			w = h.Hash()
		}
		if _, err := io.Copy(w, tr); err != nil {
			return nil, invalid("reading archive entry %q: %v", hdr.Name, err)
		}
		if w != io.Discard {
			e.sha256 = h.Digest()
		}
	}
	if len(a.entries) == 0 {
		return nil, invalid("empty archive")
	}
	return a, nil
}

// resolve finds the regular file name stands for, following symlinks and
// hardlinks (docker save links identical layers) within the archive.
func (a *archiveFile) resolve(name string) (*archiveEntry, error) {
	name = cleanName(name)
	for range 8 {
		e, ok := a.entries[name]
		if !ok {
			return nil, invalid("archive has no file %q", name)
		}
		switch e.hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			return e, nil
		case tar.TypeSymlink:
			name = cleanName(path.Join(path.Dir(name), e.hdr.Linkname))
		case tar.TypeLink:
			name = cleanName(e.hdr.Linkname)
		default:
			return nil, invalid("archive entry %q is not a file", name)
		}
	}
	return nil, invalid("archive entry %q: too many links", name)
}

func (a *archiveFile) reader(e *archiveEntry) *io.SectionReader {
	return io.NewSectionReader(a.f, e.offset, e.hdr.Size)
}

// open returns the data of the archive file name.
func (a *archiveFile) open(name string) (*io.SectionReader, int64, error) {
	e, err := a.resolve(name)
	if err != nil {
		return nil, 0, err
	}
	return a.reader(e), e.hdr.Size, nil
}

// digestOf is the digest of e's data with alg: sha256 was computed while
// indexing, any other algorithm is computed now.
func (a *archiveFile) digestOf(e *archiveEntry, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		return e.sha256, nil
	}
	if !alg.Available() {
		return "", invalid("digest algorithm %q is not supported", alg)
	}
	d, err := alg.FromReader(a.reader(e))
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	return d, nil
}

// verify checks that the file name has the descriptor's size (when size >=
// 0) and digest.
func (a *archiveFile) verify(name, what string, want digest.Digest, size int64) (*archiveEntry, error) {
	if err := content.CheckDigest(want); err != nil {
		return nil, fmt.Errorf("import: %s: %w", what, err)
	}
	e, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	if size >= 0 && e.hdr.Size != size {
		return nil, sizeMismatch(what, size, e.hdr.Size)
	}
	got, err := a.digestOf(e, want.Algorithm())
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, digestMismatch(what, want, got)
	}
	return e, nil
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
// an OCI image layout tar. Every image of the archive is checked whole
// first (names, JSON, media types against their descriptors, sizes and
// digests of every blob, config file names, the platforms asked for), so a
// refused archive stores nothing; then the blobs are stored, the layers
// unpacked and the names recorded. A layer found hostile only while it is
// applied fails the import with no name recorded; the blobs and layers
// stored before it stay, verified, for garbage collection.
//
// With platforms in want, every image must hold each of them (NotFound
// naming the platform and the image if not), and of an index only the
// manifest of that platform is imported (see chooseManifest). Without,
// an index is imported for this host's platform.
func (s *Store) Import(ctx context.Context, r io.Reader, name string, want ...ocispec.Platform) ([]Image, error) {
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
	var plans []imagePlan
	switch {
	case a.entries["index.json"] != nil && a.entries["oci-layout"] != nil:
		// Also what `docker save` writes since Docker 25 (beside a
		// manifest.json): the OCI index keeps the manifests' digests.
		plans, err = planOCI(a, name, want)
	case a.entries["manifest.json"] != nil:
		plans, err = planDocker(a, name, want)
	default:
		return nil, invalid("neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)")
	}
	if err != nil {
		return nil, err
	}
	failpoint.Hit("load-checked")
	var imgs []Image
	for _, p := range plans {
		img, err := s.store(ctx, a, p)
		if err != nil {
			return nil, err
		}
		for _, n := range p.names {
			img.Name = n
			imgs = append(imgs, img)
		}
	}
	if err := s.record(ctx, imgs); err != nil {
		return nil, fmt.Errorf("import: recording images: %w", err)
	}
	return imgs, nil
}

// imagePlan is one image of an archive, checked: what to store, in order.
type imagePlan struct {
	names          []string
	layers         []planLayer
	diffIDs        []digest.Digest
	blobs          []planBlob // top index ... manifest, config: stored after the layers, last first
	target, config ocispec.Descriptor
	size           int64
}

type planLayer struct {
	desc  ocispec.Descriptor
	entry *archiveEntry
}

type planBlob struct {
	desc ocispec.Descriptor
	body []byte
}

// store writes a checked image's blobs (verified again by the content
// store), unpacks its layers, and returns it unnamed.
func (s *Store) store(ctx context.Context, a *archiveFile, p imagePlan) (Image, error) {
	up := s.startUnpack(ctx, p.diffIDs)
	for _, l := range p.layers {
		if err := s.writeBlob(ctx, a.reader(l.entry), l.desc); err != nil {
			up.abort()
			return Image{}, fmt.Errorf("layer %s: %w", l.desc.Digest, err)
		}
		up.add(l.desc)
	}
	chain, err := up.wait()
	if err != nil {
		return Image{}, fmt.Errorf("import: %w", err)
	}
	for i := len(p.blobs) - 1; i >= 0; i-- {
		if err := s.writeBlob(ctx, bytes.NewReader(p.blobs[i].body), p.blobs[i].desc); err != nil {
			return Image{}, err
		}
	}
	return Image{Target: p.target, Config: p.config, ChainID: chain, Size: p.size}, nil
}

func (s *Store) writeBlob(ctx context.Context, r io.Reader, d ocispec.Descriptor) error {
	if _, err := s.content.Write(ctx, r, d.Digest, d.Size); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// configNameDigest is the digest a docker-archive's config file is named
// by: "<hex>.json" (docker save before 25, podman, skopeo) or
// "blobs/<alg>/<hex>" (docker save 25+).
func configNameDigest(name string) (digest.Digest, bool) {
	name = cleanName(name)
	if d, ok := blobNameDigest(name); ok {
		return d, true
	}
	hex, ok := strings.CutSuffix(name, ".json")
	if !ok || strings.Contains(hex, "/") {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex)
	return d, d.Validate() == nil
}

// blobName is where an OCI layout keeps the blob of digest d.
func blobName(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// blobNameDigest is the digest of an archive path blobs/<alg>/<hex>.
func blobNameDigest(name string) (digest.Digest, bool) {
	parts := strings.Split(cleanName(name), "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	return d, content.CheckDigest(d) == nil
}

// layerMediaType finds a docker-archive layer's media type from its magic
// bytes.
func (a *archiveFile) layerMediaType(e *archiveEntry) string {
	magic := make([]byte, 4)
	n, _ := a.reader(e).ReadAt(magic, 0)
	switch magic = magic[:n]; {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return ocispec.MediaTypeImageLayerGzip
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

// checkDiffID compares an uncompressed layer's digest with its diff ID now,
// before anything is stored (a compressed one is checked while unpacking).
func (a *archiveFile) checkDiffID(l planLayer, diffID digest.Digest) error {
	if err := content.CheckDigest(diffID); err != nil {
		return fmt.Errorf("import: layer %s: diff ID: %w", l.desc.Digest, err)
	}
	if !isUncompressedLayer(l.desc.MediaType) {
		return nil
	}
	got, err := a.digestOf(l.entry, diffID.Algorithm())
	if err != nil {
		return err
	}
	if got != diffID {
		return invalid("layer %s: uncompressed digest %s does not match diff ID %s", l.desc.Digest, got, diffID)
	}
	return nil
}

func planDocker(a *archiveFile, name string, want []ocispec.Platform) ([]imagePlan, error) {
	var manifests []dockerManifest
	if _, err := a.readJSON("manifest.json", &manifests); err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, invalid("manifest.json lists no image")
	}
	var plans []imagePlan
	for _, m := range manifests {
		var cfg ocispec.Image
		cfgBytes, err := a.readJSON(m.Config, &cfg)
		if err != nil {
			return nil, err
		}
		// The config's name is the image ID docker shows: it must be what
		// the content is, or the archive names an image it does not hold.
		id, ok := configNameDigest(m.Config)
		if !ok {
			return nil, invalid("config file %q is not named by a digest (<hex>.json or blobs/<alg>/<hex>)", m.Config)
		}
		if got := id.Algorithm().FromBytes(cfgBytes); got != id {
			return nil, invalid("config file %q: its name is not the digest of its content: expected %s, got %s", m.Config, id, got)
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, invalid("%s: %d layers but config lists %d diff IDs", m.Config, len(m.Layers), len(cfg.RootFS.DiffIDs))
		}
		p := imagePlan{diffIDs: cfg.RootFS.DiffIDs}
		p.config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgBytes), Size: int64(len(cfgBytes))}
		mf := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    p.config,
			Layers:    []ocispec.Descriptor{},
		}
		for i, l := range m.Layers {
			e, err := a.resolve(l)
			if err != nil {
				return nil, err
			}
			d := ocispec.Descriptor{MediaType: a.layerMediaType(e), Digest: e.sha256, Size: e.hdr.Size}
			if named, ok := blobNameDigest(l); ok {
				if _, err := a.verify(l, "layer "+l, named, -1); err != nil {
					return nil, err
				}
			}
			pl := planLayer{desc: d, entry: e}
			if err := a.checkDiffID(pl, cfg.RootFS.DiffIDs[i]); err != nil {
				return nil, err
			}
			mf.Layers = append(mf.Layers, d)
			p.layers = append(p.layers, pl)
			p.size += d.Size
		}
		mfBytes, err := json.Marshal(mf)
		if err != nil {
			return nil, err
		}
		p.target = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mfBytes), Size: int64(len(mfBytes))}
		p.blobs = []planBlob{{p.target, mfBytes}, {p.config, cfgBytes}}
		p.size += p.target.Size + p.config.Size
		for _, t := range m.RepoTags {
			n, err := Normalize(t)
			if err != nil {
				return nil, fmt.Errorf("import: RepoTags: %w", err)
			}
			p.names = append(p.names, n)
		}
		if len(p.names) == 0 && name != "" {
			p.names = []string{name}
		}
		if len(p.names) == 0 {
			p.names = []string{p.config.Digest.String()}
		}
		if err := checkConfigPlatform(p.names[0], &cfg, nil, want); err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func planOCI(a *archiveFile, name string, want []ocispec.Platform) ([]imagePlan, error) {
	var idx ocispec.Index
	if _, err := a.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	if len(idx.Manifests) == 0 {
		return nil, invalid("index.json lists no manifest")
	}
	var plans []imagePlan
	for _, top := range idx.Manifests {
		n, err := ociName(top, name)
		if err != nil {
			return nil, err
		}
		shown := n // in errors
		if shown == "" {
			shown = top.Digest.String()
		}
		p, err := planOCIManifest(a, top, shown, want)
		if err != nil {
			return nil, err
		}
		if n == "" {
			n = p.config.Digest.String()
		}
		p.names = []string{n}
		plans = append(plans, p)
	}
	return plans, nil
}

// ociName is the name index.json gives an image (a bare tag completes the
// name the client gave), else the client's name.
func ociName(top ocispec.Descriptor, name string) (string, error) {
	n := top.Annotations["io.containerd.image.name"]
	if n == "" {
		n = top.Annotations[ocispec.AnnotationRefName]
	}
	switch {
	case n == "":
	case bareTag.MatchString(n):
		if name != "" {
			nn, _ := reference.ParseNormalizedNamed(name)
			if t, err := reference.WithTag(reference.TrimNamed(nn), n); err == nil {
				return t.String(), nil
			}
		}
	default:
		norm, err := Normalize(n)
		if err != nil {
			return "", fmt.Errorf("import: index.json: %w", err)
		}
		return norm, nil
	}
	return name, nil
}

// blobJSON reads the blob d names, checked against d's size and digest.
func (a *archiveFile) blobJSON(d ocispec.Descriptor, what string) ([]byte, error) {
	if err := content.CheckDigest(d.Digest); err != nil {
		return nil, fmt.Errorf("import: %s: %w", what, err)
	}
	if d.Size < 0 || d.Size > maxJSON {
		return nil, invalid("%s %s: %d bytes is too large", what, d.Digest, d.Size)
	}
	e, err := a.verify(blobName(d.Digest), what+" "+d.Digest.String(), d.Digest, d.Size)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(a.reader(e))
	if err != nil {
		return nil, fmt.Errorf("import: %s: %w", what, err)
	}
	return b, nil
}

// planOCIManifest follows top (through indexes, to the manifest of the
// platform asked for, else of this host's) and checks every descriptor on
// the way against its blob: size, digest and media type. image names it
// in errors.
func planOCIManifest(a *archiveFile, top ocispec.Descriptor, image string, want []ocispec.Platform) (imagePlan, error) {
	p := imagePlan{target: top}
	desc := top
	var offered []ocispec.Platform // by the indexes on the way
	for range 4 {
		body, err := a.blobJSON(desc, "manifest")
		if err != nil {
			return p, err
		}
		if err := checkKind(desc, body); err != nil {
			return p, err
		}
		p.blobs = append(p.blobs, planBlob{desc, body})
		p.size += desc.Size
		if isIndexType(desc.MediaType) {
			var idx ocispec.Index
			if err := json.Unmarshal(body, &idx); err != nil {
				return p, invalid("index %s: bad JSON: %v", desc.Digest, err)
			}
			chosen, more, err := a.chooseManifest(idx, desc, image, want)
			if err != nil {
				return p, err
			}
			offered = append(offered, more...)
			desc = chosen
			continue
		}
		var mf ocispec.Manifest
		if err := json.Unmarshal(body, &mf); err != nil {
			return p, invalid("manifest %s: bad JSON: %v", desc.Digest, err)
		}
		if !isConfigType(mf.Config.MediaType) {
			return p, invalid("manifest %s: config media type %q is not an image config", desc.Digest, mf.Config.MediaType)
		}
		cfgBytes, err := a.blobJSON(mf.Config, "config")
		if err != nil {
			return p, err
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
			return p, invalid("config %s: bad JSON: %v", mf.Config.Digest, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
			return p, invalid("%s: %d layers but config lists %d diff IDs", desc.Digest, len(mf.Layers), len(cfg.RootFS.DiffIDs))
		}
		if err := checkConfigPlatform(image, &cfg, offered, want); err != nil {
			return p, err
		}
		p.config, p.diffIDs = mf.Config, cfg.RootFS.DiffIDs
		p.blobs = append(p.blobs, planBlob{mf.Config, cfgBytes})
		p.size += mf.Config.Size
		for i, l := range mf.Layers {
			if !isLayerType(l.MediaType) {
				return p, invalid("layer %s: unsupported media type %q", l.Digest, l.MediaType)
			}
			if err := content.CheckDigest(l.Digest); err != nil {
				return p, fmt.Errorf("import: layer: %w", err)
			}
			e, err := a.verify(blobName(l.Digest), "layer "+l.Digest.String(), l.Digest, l.Size)
			if err != nil {
				return p, err
			}
			pl := planLayer{desc: l, entry: e}
			if err := a.checkDiffID(pl, cfg.RootFS.DiffIDs[i]); err != nil {
				return p, err
			}
			p.layers = append(p.layers, pl)
			p.size += l.Size
		}
		return p, nil
	}
	return p, invalid("nested indexes too deep")
}
