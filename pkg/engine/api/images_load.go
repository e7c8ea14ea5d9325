package api

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
	"github.com/moby/moby/api/types/events"
)

// imagesLoad imports a `docker save` or OCI layout tar from the body. With
// platforms asked for, the archive is spooled and read first: the import
// would otherwise store whatever platform the archive has, and a refusal
// after it would leave images half of what was asked.
func (s *Server) imagesLoad(w http.ResponseWriter, r *http.Request) {
	platforms, err := queryPlatforms(r, "platform")
	if err != nil {
		writeError(w, err)
		return
	}
	var body io.Reader = r.Body
	if len(platforms) > 0 {
		f, err := s.spoolLoad(r.Body)
		if err != nil {
			writeError(w, err)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if err := checkArchivePlatforms(f, platforms); err != nil {
			writeError(w, err)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			writeError(w, fmt.Errorf("load: %w", err))
			return
		}
		body = f
	}
	imgs, err := s.d.Supervisor().Import(r.Context(), body, "")
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	loaded := map[string]bool{}
	for _, img := range imgs {
		// One event per image, not per name it came with, as dockerd.
		if id := img.GetConfig().GetDigest(); !loaded[id] {
			loaded[id] = true
			s.d.EmitImage(r.Context(), events.ActionLoad, id, id, img)
		}
		line := "Loaded image ID: " + img.GetConfig().GetDigest() + "\n"
		if f := familiar(img.GetName()); f != "" {
			line = "Loaded image: " + f + "\n"
		}
		_ = enc.Encode(map[string]string{"stream": line})
	}
}

func (s *Server) spoolLoad(r io.Reader) (*os.File, error) {
	tmp := s.importTmp()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	f, err := os.CreateTemp(tmp, "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("load: receiving the archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("load: %w", err)
	}
	return f, nil
}

// loadArchive is an image archive on disk, its entries found by name.
type loadArchive struct {
	f   *os.File
	hdr map[string]*tar.Header
	at  map[string]int64 // where each entry's data starts
}

func archiveEntryName(n string) string { return strings.TrimPrefix(path.Clean("/"+n), "/") }

func openLoadArchive(f *os.File) (*loadArchive, error) {
	a := &loadArchive{f: f, hdr: map[string]*tar.Header{}, at: map[string]int64{}}
	// archive/tar reads a header with nothing ahead and skips data by
	// seeking: after Next the file's offset is where the entry's data is.
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load: reading the archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		at, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		n := archiveEntryName(h.Name)
		a.hdr[n], a.at[n] = h, at
	}
}

// has tells whether name is a file of the archive (through links).
func (a *loadArchive) has(name string) bool {
	_, err := a.entry(name)
	return err == nil
}

func (a *loadArchive) entry(name string) (string, error) {
	name = archiveEntryName(name)
	for range 8 {
		h, ok := a.hdr[name]
		if !ok {
			return "", fmt.Errorf("load: the archive has no %s: %w", name, errdefs.ErrInvalidArgument)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			return name, nil
		case tar.TypeSymlink:
			name = archiveEntryName(path.Join(path.Dir(name), h.Linkname))
		case tar.TypeLink:
			name = archiveEntryName(h.Linkname)
		default:
			return "", fmt.Errorf("load: archive entry %s is not a file: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return "", fmt.Errorf("load: archive entry %s: too many links: %w", name, errdefs.ErrInvalidArgument)
}

// maxArchiveJSON bounds the manifests, indexes and configs read here.
const maxArchiveJSON = 8 << 20

func (a *loadArchive) json(name string, v any) error {
	n, err := a.entry(name)
	if err != nil {
		return err
	}
	if a.hdr[n].Size > maxArchiveJSON {
		return fmt.Errorf("load: %s: %d bytes is too large: %w", n, a.hdr[n].Size, errdefs.ErrInvalidArgument)
	}
	if err := json.NewDecoder(io.NewSectionReader(a.f, a.at[n], a.hdr[n].Size)).Decode(v); err != nil {
		return fmt.Errorf("load: %s: %v: %w", n, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func blobPath(d ocispec.Descriptor) string {
	return path.Join("blobs", string(d.Digest.Algorithm()), d.Digest.Encoded())
}

// archiveImage is one image of an archive: the platform an import stores
// (the supervisor's importer takes this host's manifest of an index) and
// the platforms the archive holds for it.
type archiveImage struct {
	name  string
	loads ocispec.Platform
	holds []ocispec.Platform
}

// archiveImages reads the archive as the importer does: an OCI layout
// (index.json and oci-layout, which docker save 25+ writes beside its
// manifest.json) before a docker-archive's manifest.json.
func archiveImages(a *loadArchive) ([]archiveImage, error) {
	if a.has("index.json") && a.has("oci-layout") {
		var idx ocispec.Index
		if err := a.json("index.json", &idx); err != nil {
			return nil, err
		}
		var out []archiveImage
		for _, top := range idx.Manifests {
			im, err := ociArchiveImage(a, top)
			if err != nil {
				return nil, err
			}
			out = append(out, im)
		}
		return out, nil
	}
	if !a.has("manifest.json") {
		return nil, fmt.Errorf("load: neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json): %w", errdefs.ErrInvalidArgument)
	}
	var entries []struct {
		Config   string
		RepoTags []string
	}
	if err := a.json("manifest.json", &entries); err != nil {
		return nil, err
	}
	var out []archiveImage
	for _, e := range entries {
		var cfg ocispec.Image
		if err := a.json(e.Config, &cfg); err != nil {
			return nil, err
		}
		im := archiveImage{name: e.Config, loads: platforms.OfConfig(&cfg)}
		if len(e.RepoTags) > 0 {
			im.name = e.RepoTags[0]
		}
		im.holds = []ocispec.Platform{im.loads}
		out = append(out, im)
	}
	return out, nil
}

// ociArchiveImage follows top down to the manifest the importer would take.
func ociArchiveImage(a *loadArchive, top ocispec.Descriptor) (archiveImage, error) {
	im := archiveImage{name: top.Annotations[ocispec.AnnotationRefName]}
	if n := top.Annotations["io.containerd.image.name"]; n != "" {
		im.name = n
	}
	if im.name == "" {
		im.name = top.Digest.String()
	}
	d := top
	for range 4 {
		if d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json" {
			var idx ocispec.Index
			if err := a.json(blobPath(d), &idx); err != nil {
				return im, err
			}
			var next *ocispec.Descriptor
			for i, m := range idx.Manifests {
				if m.Platform != nil && a.has(blobPath(m)) {
					im.holds = append(im.holds, *m.Platform)
				}
				if next == nil && (m.Platform == nil || m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
					next = &idx.Manifests[i]
				}
			}
			if next == nil {
				// The importer refuses it; its error says why.
				return im, nil
			}
			d = *next
			continue
		}
		var mf ocispec.Manifest
		if err := a.json(blobPath(d), &mf); err != nil {
			return im, err
		}
		var cfg ocispec.Image
		if err := a.json(blobPath(mf.Config), &cfg); err != nil {
			return im, err
		}
		im.loads = platforms.OfConfig(&cfg)
		if len(im.holds) == 0 {
			im.holds = []ocispec.Platform{im.loads}
		}
		return im, nil
	}
	return im, fmt.Errorf("load: %s: indexes nested too deep: %w", im.name, errdefs.ErrInvalidArgument)
}

// checkArchivePlatforms refuses an archive whose images would not load as
// each platform of want: not found when the archive lacks it, not
// implemented when it holds it in an index beside this host's manifest,
// which is the one the importer takes.
func checkArchivePlatforms(f *os.File, want []ocispec.Platform) error {
	a, err := openLoadArchive(f)
	if err != nil {
		return err
	}
	imgs, err := archiveImages(a)
	if err != nil {
		return err
	}
	for _, im := range imgs {
		if f := familiar(im.name); f != "" {
			im.name = f
		}
		for _, w := range want {
			if im.loads.OS != "" && platforms.Match(w, im.loads) {
				continue
			}
			var held []string
			found := false
			for _, h := range im.holds {
				held = append(held, platforms.Format(h))
				found = found || platforms.Match(w, h)
			}
			if found {
				return errdefs.Classf(errdefs.ErrNotImplemented, "load: the archive holds %s for image %s in an image index, but berth loads only this host's manifest (linux/%s) of an index; nothing was loaded", platforms.Format(w), im.name, runtime.GOARCH)
			}
			if len(held) == 0 {
				held = []string{"no platform berth can load"}
			}
			return errdefs.Classf(errdefs.ErrNotFound, "load: the archive has no %s variant of image %s (it holds %s); nothing was loaded", platforms.Format(w), im.name, strings.Join(held, ", "))
		}
	}
	return nil
}
