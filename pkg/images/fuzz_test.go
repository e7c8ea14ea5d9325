package images

import (
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/archive/archivetest"
)

// FuzzImportArchive feeds archives to the importer's checks (tar index,
// docker-archive manifest, OCI index and manifests, configs, every
// descriptor's kind, size and digest): whatever the bytes, they are
// refused with an error or planned, never a panic or a hang.
func FuzzImportArchive(f *testing.F) {
	layer := tarOf(f, file{name: "hello", body: "hi"})
	f.Add(dockerArchive(f, []string{"example.com/a:1"}, [][]byte{layer}, nil))
	f.Add(dockerArchive(f, nil, nil, nil))
	f.Add(dockerArchive(f, []string{"bad name"}, [][]byte{layer, layer}, func(cfg map[string]any, _ map[string][]byte) {
		cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": []string{"sha256:00"}}
	}))
	f.Add(newOCIParts(f, "m").tar(f))
	f.Add(tarOf(f, file{name: "index.json", body: `{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` + "0000000000000000000000000000000000000000000000000000000000000000" + `","size":2}]}`}, file{name: "oci-layout", body: "{}"}))
	f.Add([]byte("not a tar"))
	f.Add(archivetest.SparseTar("manifest.json", 1<<40, false))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "archive")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		a, err := indexArchive(fh)
		if err != nil {
			return
		}
		// Without a platform, and with one that picks from indexes.
		for _, want := range [][]ocispec.Platform{nil, {{OS: "linux", Architecture: "s390x"}}} {
			switch {
			case a.entries["index.json"] != nil && a.entries["oci-layout"] != nil:
				_, _ = planOCI(a, "", want)
			case a.entries["manifest.json"] != nil:
				_, _ = planDocker(a, "", want)
			}
		}
	})
}

// FuzzNormalize: a name is refused or normalized, and normalizing a
// normalized name changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"busybox", "library/busybox:1", "docker.io/library/busybox:latest",
		"localhost:5000/a/b@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123",
		"Upper", "a:b:c", "example.com/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := Normalize(name)
		if err != nil {
			return
		}
		n2, err := Normalize(n)
		if err != nil || n2 != n {
			t.Fatalf("Normalize(%q) = %q, then %q, %v", name, n, n2, err)
		}
	})
}
