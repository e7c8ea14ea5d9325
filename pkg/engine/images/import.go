package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/imageconfig"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

// Importer stores an image archive (containers.Supervisor's Import).
type Importer interface {
	Import(ctx context.Context, r io.Reader, name string, platforms ...ocispec.Platform) ([]*client.Image, error)
}

// ImportOptions are `docker import`'s: the name to record ("" for none),
// --change instructions, --message, the source (for the default message)
// and the platform ("" or this host's linux/arch).
type ImportOptions struct {
	Name     string
	Changes  []string
	Message  string
	Source   string
	Platform *ocispec.Platform
}

// ImportRootfs makes a one-layer image of a root filesystem tar (plain,
// gzip, bzip2, xz or zstd), as `docker import` does. The tar is checked
// and spooled in tmp first: bad input is refused before anything is
// stored. It returns the image ID.
func ImportRootfs(ctx context.Context, imp Importer, r io.Reader, o ImportOptions, tmp string) (string, error) {
	cfg := imageconfig.Config{}
	if err := imageconfig.ApplyChanges(&cfg, o.Changes); err != nil {
		return "", err
	}
	plat := platforms.Host()
	if p := o.Platform; p != nil && !platforms.OnHost(*p) {
		return "", fmt.Errorf("platform %s: only this host's %s can be imported: %w", platforms.Format(*p), platforms.Format(plat), errdefs.ErrInvalidArgument)
	}
	f, err := os.CreateTemp(tmp, "import-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	diffID, err := spoolTar(r, f)
	if err != nil {
		return "", err
	}
	msg := o.Message
	if msg == "" {
		msg = "Imported from " + o.Source
	}
	now := time.Now().UTC()
	img := dockerspec.DockerOCIImage{Config: cfg}
	img.Created = &now
	img.Platform = plat
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}
	img.History = []ocispec.History{{Created: &now, Comment: msg}}
	cfgJSON, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeArchive(pw, cfgJSON, f)) }()
	imgs, err := imp.Import(ctx, pr, o.Name)
	pr.CloseWithError(errors.New("import ended"))
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	if len(imgs) != 1 {
		return "", fmt.Errorf("import: %d images stored, want 1", len(imgs))
	}
	return imgs[0].GetConfig().GetDigest(), nil
}

// spoolTar decompresses r into f, checking that it is a tar archive, and
// returns its digest (the layer's diff ID).
func spoolTar(r io.Reader, f *os.File) (digest.Digest, error) {
	dr, err := archive.Decompress(r)
	if err != nil {
		return "", fmt.Errorf("import: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer dr.Close()
	dg := digest.SHA256.Digester()
	tr := archive.NewReader(io.TeeReader(dr, io.MultiWriter(f, dg.Hash())))
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("import: not a tar archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("import: the archive is empty or not a tar archive: %w", errdefs.ErrInvalidArgument)
	}
	// What follows the end marker is part of the layer's bytes too.
	if _, err := io.Copy(io.MultiWriter(f, dg.Hash()), dr); err != nil {
		return "", fmt.Errorf("import: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return dg.Digest(), nil
}

// writeArchive writes a docker-archive (`docker save` format) of one image:
// its config and the spooled layer.
func writeArchive(w io.Writer, cfg []byte, layer *os.File) error {
	st, err := layer.Stat()
	if err != nil {
		return err
	}
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{}, "Layers": []string{"layer.tar"}}})
	tw := tar.NewWriter(w)
	for _, e := range []struct {
		name string
		data []byte
	}{{cfgName, cfg}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o444, Size: int64(len(e.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "layer.tar", Mode: 0o444, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, layer); err != nil {
		return err
	}
	return tw.Close()
}
