package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/testprereq"
)

func requireBusybox(t *testing.T) {
	t.Helper()
	_, err := os.Stat(BusyboxPath)
	testprereq.Require(t, err == nil, "host busybox (make deps): %v", err)
}

func readTar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[h.Name] = body
	}
}

func TestDockerArchiveIsConsistentAndDeterministic(t *testing.T) {
	requireBusybox(t)
	var a, b bytes.Buffer
	if err := DockerArchive(&a, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	if err := DockerArchive(&b, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two builds of the same image differ")
	}
	files := readTar(t, a.Bytes())
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || manifest[0].RepoTags[0] != "busybox:latest" || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %+v", manifest)
	}
	cfgBytes := files[manifest[0].Config]
	if digest.FromBytes(cfgBytes).Encoded()+".json" != manifest[0].Config {
		t.Fatal("config file name is not its digest")
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		t.Fatal(err)
	}
	layer := files[manifest[0].Layers[0]]
	if cfg.RootFS.DiffIDs[0] != digest.FromBytes(layer) {
		t.Fatal("diff id does not match the layer")
	}
	inLayer := readTar(t, layer)
	if _, ok := inLayer["bin/busybox"]; !ok {
		t.Fatal("layer lacks bin/busybox")
	}
	if _, ok := inLayer["bin/sh"]; !ok {
		t.Fatal("layer lacks the sh applet")
	}
}

func TestOCILayout(t *testing.T) {
	requireBusybox(t)
	dir := t.TempDir()
	if err := WriteOCILayout(dir, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	md := idx.Manifests[0].Digest
	mb, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", md.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(mb) != md {
		t.Fatal("manifest blob does not match its digest")
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		blob, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(blob) != d.Digest || int64(len(blob)) != d.Size {
			t.Fatalf("blob %s does not match its descriptor", d.Digest)
		}
	}
}

// A multi-platform archive: index.json names an index with a manifest per
// platform, every blob there and matching its digest.
func TestOCIIndexArchive(t *testing.T) {
	requireBusybox(t)
	bb, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	other, err := bb.ForPlatform(ocispec.Platform{OS: "linux", Architecture: "s390x"})
	if err != nil || other.ConfigID == bb.ConfigID || other.DiffIDs[0] != bb.DiffIDs[0] {
		t.Fatalf("ForPlatform: %v %+v", err, other)
	}
	var buf bytes.Buffer
	if err := WriteOCIIndexArchiveTo(&buf, "example.com/multi:1", bb, other); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, buf.Bytes())
	blob := func(d digest.Digest) []byte {
		b, ok := files["blobs/sha256/"+d.Encoded()]
		if !ok || digest.FromBytes(b) != d {
			t.Fatalf("blob %s missing or not matching", d)
		}
		return b
	}
	var top, idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 || top.Manifests[0].Annotations["io.containerd.image.name"] != "example.com/multi:1" {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	if err := json.Unmarshal(blob(top.Manifests[0].Digest), &idx); err != nil || len(idx.Manifests) != 2 {
		t.Fatalf("index: %v %+v", err, idx)
	}
	for i, want := range []string{"amd64", "s390x"} {
		var m ocispec.Manifest
		var cfg ocispec.Image
		if err := json.Unmarshal(blob(idx.Manifests[i].Digest), &m); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(blob(m.Config.Digest), &cfg); err != nil || cfg.Architecture != want || idx.Manifests[i].Platform.Architecture != want {
			t.Errorf("manifest %d: %v %s, want %s", i, err, cfg.Architecture, want)
		}
		blob(m.Layers[0].Digest)
	}
}

func TestPopulateRootfs(t *testing.T) {
	requireBusybox(t)
	dir := t.TempDir()
	if err := PopulateRootfs(dir); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin", "sh")); err != nil || target != "busybox" {
		t.Fatalf("bin/sh: %q %v", target, err)
	}
	st, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil || st.Mode()&os.ModeSticky == 0 {
		t.Fatalf("tmp not sticky: %v %v", st.Mode(), err)
	}
}
