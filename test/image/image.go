// Package image builds busybox test images offline from the host's static
// busybox (/usr/bin/busybox, Debian's busybox-static), in the formats berth
// imports: a docker-archive (the `docker save` format) and an OCI image
// layout. Output is deterministic: the same host busybox gives the same
// digests, so tests can compare them across save/load round trips.
package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxPath is where the host's static busybox is expected.
var BusyboxPath = "/usr/bin/busybox"

// epoch is the fixed mtime of every entry, for reproducible digests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image is a built test image: its config and layer blobs, uncompressed.
type Image struct {
	Config   []byte
	Layers   [][]byte
	ConfigID digest.Digest // sha256 of Config: the image ID
	DiffIDs  []digest.Digest
}

// Busybox builds the one-layer busybox image.
func Busybox() (*Image, error) {
	layer, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	return New([][]byte{layer}, []string{"sh"})
}

// New builds an image from uncompressed layer tars and a default command.
func New(layers [][]byte, cmd []string) (*Image, error) {
	img := &Image{Layers: layers}
	for _, l := range layers {
		img.DiffIDs = append(img.DiffIDs, digest.FromBytes(l))
	}
	created := epoch
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config: ocispec.ImageConfig{
			Env: []string{defaultPath},
			Cmd: cmd,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: img.DiffIDs},
	}
	for range layers {
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "berth test image: busybox from the host"})
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	img.Config = b
	img.ConfigID = digest.FromBytes(b)
	return img, nil
}

// Applets lists the host busybox's applets.
func Applets() ([]string, error) {
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets (%s; install busybox-static): %w", BusyboxPath, err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if n != "busybox" && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

type entry struct {
	name     string
	mode     int64
	typ      byte
	linkname string
	body     []byte
}

// rootfsEntries is the busybox root filesystem, in tar order.
func rootfsEntries() ([]entry, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read host busybox (install busybox-static): %w", err)
	}
	applets, err := Applets()
	if err != nil {
		return nil, err
	}
	es := []entry{}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin", "sbin", "var", "var/log"} {
		es = append(es, entry{name: d + "/", mode: 0o755, typ: tar.TypeDir})
	}
	es = append(es, entry{name: "tmp/", mode: 0o1777, typ: tar.TypeDir})
	es = append(es, entry{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, body: bin})
	for _, a := range applets {
		es = append(es, entry{name: "bin/" + a, mode: 0o777, typ: tar.TypeSymlink, linkname: "busybox"})
	}
	es = append(es,
		entry{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		entry{name: "etc/group", mode: 0o644, typ: tar.TypeReg, body: []byte("root:x:0:\nwheel:x:10:root\nusers:x:100:nobody\nnogroup:x:65534:\n")},
	)
	return es, nil
}

func busyboxLayer() ([]byte, error) {
	es, err := rootfsEntries()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.linkname, Size: int64(len(e.body)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PopulateRootfs writes the busybox root filesystem into dir (for runtime
// bundles that need no image).
func PopulateRootfs(dir string) error {
	es, err := rootfsEntries()
	if err != nil {
		return err
	}
	for _, e := range es {
		p := filepath.Join(dir, e.name)
		switch e.typ {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(e.mode&0o777)); err != nil {
				return err
			}
			if err := os.Chmod(p, os.FileMode(e.mode&0o777)|modeExtra(e.mode)); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.WriteFile(p, e.body, os.FileMode(e.mode)); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(e.linkname, p); err != nil && !os.IsExist(err) {
				return err
			}
		}
	}
	return nil
}

func modeExtra(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// tarWriter writes regular files into a tar with fixed metadata.
type tarWriter struct{ tw *tar.Writer }

func (t tarWriter) file(name string, body []byte) error {
	if err := t.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := t.tw.Write(body)
	return err
}

func (t tarWriter) dir(name string) error {
	return t.tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch})
}

// familiar splits "busybox:latest" into ("busybox", "latest").
func familiar(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

// WriteDockerArchiveTo writes img as a docker-archive tagged ref.
func (img *Image) WriteDockerArchiveTo(w io.Writer, ref string) error {
	tw := tar.NewWriter(w)
	t := tarWriter{tw}
	repo, tag := familiar(ref)
	configName := img.ConfigID.Encoded() + ".json"
	var layerNames []string
	var lastID string
	parent := ""
	for i, l := range img.Layers {
		// Legacy v1 layer IDs chain the layer's diff ID to its parent's ID.
		sum := sha256.Sum256([]byte(parent + " " + img.DiffIDs[i].String()))
		id := hex.EncodeToString(sum[:])
		if err := t.dir(id); err != nil {
			return err
		}
		if err := t.file(id+"/VERSION", []byte("1.0")); err != nil {
			return err
		}
		v1 := map[string]any{"id": id, "created": epoch.Format(time.RFC3339), "os": "linux"}
		if parent != "" {
			v1["parent"] = parent
		}
		v1json, _ := json.Marshal(v1)
		if err := t.file(id+"/json", v1json); err != nil {
			return err
		}
		if err := t.file(id+"/layer.tar", l); err != nil {
			return err
		}
		layerNames = append(layerNames, id+"/layer.tar")
		parent, lastID = id, id
	}
	if err := t.file(configName, img.Config); err != nil {
		return err
	}
	manifest := []map[string]any{{"Config": configName, "RepoTags": []string{repo + ":" + tag}, "Layers": layerNames}}
	mb, _ := json.Marshal(manifest)
	if err := t.file("manifest.json", mb); err != nil {
		return err
	}
	repos, _ := json.Marshal(map[string]map[string]string{repo: {tag: lastID}})
	if err := t.file("repositories", repos); err != nil {
		return err
	}
	return tw.Close()
}

// Manifest returns the OCI manifest of img (uncompressed layers).
func (img *Image) Manifest() ([]byte, error) {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.ConfigID, Size: int64(len(img.Config))},
	}
	for i, l := range img.Layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: img.DiffIDs[i], Size: int64(len(l))})
	}
	return json.Marshal(m)
}

// WriteOCILayout writes img as an OCI image layout directory at dir, with
// the manifest annotated with ref's tag (org.opencontainers.image.ref.name).
func (img *Image) WriteOCILayout(dir, ref string) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	put := func(b []byte) (digest.Digest, error) {
		d := digest.FromBytes(b)
		return d, os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644)
	}
	for _, l := range img.Layers {
		if _, err := put(l); err != nil {
			return err
		}
	}
	if _, err := put(img.Config); err != nil {
		return err
	}
	mb, err := img.Manifest()
	if err != nil {
		return err
	}
	md, err := put(mb)
	if err != nil {
		return err
	}
	_, tag := familiar(ref)
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType:   ocispec.MediaTypeImageManifest,
			Digest:      md,
			Size:        int64(len(mb)),
			Annotations: map[string]string{ocispec.AnnotationRefName: tag, "io.containerd.image.name": ref},
			Platform:    &ocispec.Platform{Architecture: "amd64", OS: "linux"},
		}},
	}
	ib, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// ForPlatform is img made for platform p: the same layers and command, its
// config naming p (what a test loads as another architecture's image).
func (img *Image) ForPlatform(p ocispec.Platform) (*Image, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		return nil, err
	}
	cfg.Platform = p
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &Image{Config: b, Layers: img.Layers, ConfigID: digest.FromBytes(b), DiffIDs: img.DiffIDs}, nil
}

// WriteOCIIndexArchiveTo writes a multi-platform image ref as an OCI layout
// tar, as `docker save` writes one: index.json points at an image index
// with a manifest per image of imgs, each with the platform its config
// names.
func WriteOCIIndexArchiveTo(w io.Writer, ref string, imgs ...*Image) error {
	tw := tar.NewWriter(w)
	t := tarWriter{tw}
	written := map[digest.Digest]bool{}
	put := func(mt string, b []byte) (ocispec.Descriptor, error) {
		d := digest.FromBytes(b)
		if !written[d] {
			written[d] = true
			if err := t.file("blobs/sha256/"+d.Encoded(), b); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}, nil
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, img := range imgs {
		for _, l := range img.Layers {
			if _, err := put(ocispec.MediaTypeImageLayer, l); err != nil {
				return err
			}
		}
		if _, err := put(ocispec.MediaTypeImageConfig, img.Config); err != nil {
			return err
		}
		mb, err := img.Manifest()
		if err != nil {
			return err
		}
		md, err := put(ocispec.MediaTypeImageManifest, mb)
		if err != nil {
			return err
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(img.Config, &cfg); err != nil {
			return err
		}
		md.Platform = &cfg.Platform
		idx.Manifests = append(idx.Manifests, md)
	}
	ib, _ := json.Marshal(idx)
	top, err := put(ocispec.MediaTypeImageIndex, ib)
	if err != nil {
		return err
	}
	_, tag := familiar(ref)
	top.Annotations = map[string]string{ocispec.AnnotationRefName: tag, "io.containerd.image.name": ref}
	tb, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}})
	if err := t.file("index.json", tb); err != nil {
		return err
	}
	if err := t.file(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

// DockerArchive writes the busybox image as a docker-archive tagged ref.
func DockerArchive(w io.Writer, ref string) error {
	img, err := Busybox()
	if err != nil {
		return err
	}
	return img.WriteDockerArchiveTo(w, ref)
}

// WriteDockerArchive writes the busybox image as a docker-archive file.
func WriteDockerArchive(path, ref string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := DockerArchive(f, ref); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteOCILayout writes the busybox image as an OCI image layout at dir.
func WriteOCILayout(dir, ref string) error {
	img, err := Busybox()
	if err != nil {
		return err
	}
	return img.WriteOCILayout(dir, ref)
}
