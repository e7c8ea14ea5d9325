package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// svStoreState lists, through the API, what an import can change: image
// names, blobs and snapshots.
func (e *svEnv) storeState(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var out []string
	il, err := e.images.List(ctx, &pb.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range il.Images {
		out = append(out, "image "+i.Name+" "+i.Target.GetDigest())
	}
	cl, err := e.cont.List(ctx, &pb.ListContentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.Info {
		out = append(out, fmt.Sprintf("blob %s %d", c.Digest, c.Size))
	}
	sl, err := e.snaps.List(ctx, &pb.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sl.Info {
		out = append(out, fmt.Sprintf("snapshot %s %v", s.Name, s.Kind))
	}
	sort.Strings(out)
	return out
}

// tarDir tars a directory (an OCI layout written by test/image).
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}

// TestSupervisorImportHostileImages: each hostile archive is refused with
// an error naming what is wrong, and the store (images, blobs, snapshots
// as the API lists them) is what it was before.
func TestSupervisorImportHostileImages(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	e.importBusybox(t, ctx, "busybox:latest")
	before := e.storeState(t, ctx)

	// A new image (a layer the store does not have), so that any write of
	// a refused import would show.
	var lb bytes.Buffer
	tw := tar.NewWriter(&lb)
	tw.WriteHeader(&tar.Header{Name: "hostile", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	img, err := image.New([][]byte{lb.Bytes()}, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if err := img.WriteDockerArchiveTo(&good, "hostile:v1"); err != nil {
		t.Fatal(err)
	}
	cfgName := img.ConfigID.Encoded() + ".json"
	other := digest.FromString("not the config")
	renamed := svRewriteArchive(t, good.Bytes(), func(name string, body []byte) []byte {
		if name == "manifest.json" {
			return bytes.ReplaceAll(body, []byte(cfgName), []byte(other.Encoded()+".json"))
		}
		return body
	})
	renamed = svRenameEntry(t, renamed, cfgName, other.Encoded()+".json")

	dir := t.TempDir()
	if err := img.WriteOCILayout(dir, "hostile:v1"); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	ib, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(ib, &idx)
	md := idx.Manifests[0]
	// An index blob wrapping the manifest, under a descriptor saying manifest.
	inner, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	innerD := digest.FromBytes(inner)
	os.WriteFile(filepath.Join(dir, "blobs/sha256", innerD.Encoded()), inner, 0o644)
	writeIndex := func(d ocispec.Descriptor) []byte {
		b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{d}})
		os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
		return tarDir(t, dir)
	}
	manifestIsIndex := writeIndex(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: innerD, Size: int64(len(inner))})
	bigger := md
	bigger.Size += 10
	sizeMismatch := writeIndex(bigger)
	// The descriptor names the index blob, whose content is then changed.
	os.WriteFile(filepath.Join(dir, "blobs/sha256", innerD.Encoded()), bytes.Replace(inner, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1), 0o644)
	digestMismatch := writeIndex(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: innerD, Size: int64(len(inner))})

	cases := []struct {
		name string
		arch []byte
		want []string
	}{
		{"docker config not named by its digest", renamed, []string{"not the digest of its content", other.String(), img.ConfigID.String()}},
		{"oci manifest descriptor, index blob", manifestIsIndex, []string{"descriptor says " + ocispec.MediaTypeImageManifest, "blob says " + ocispec.MediaTypeImageIndex}},
		{"oci size mismatch", sizeMismatch, []string{"size", fmt.Sprint(md.Size), fmt.Sprint(md.Size + 10)}},
		{"oci digest mismatch", digestMismatch, []string{"digest mismatch", innerD.String()}},
	}
	for _, c := range cases {
		_, err := e.importArchive(ctx, c.arch, "")
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: want InvalidArgument, got %v", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %q", c.name, err, w)
			}
		}
		if after := e.storeState(t, ctx); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the store changed:\nbefore %v\nafter  %v", c.name, before, after)
		}
	}
	// The good archive still imports.
	if _, err := e.importArchive(ctx, good.Bytes(), ""); err != nil {
		t.Fatal(err)
	}
}

// svRenameEntry renames one entry of a tar.
func svRenameEntry(t *testing.T, data []byte, from, to string) []byte {
	return svRewriteEntries(t, data, func(h *tar.Header, body []byte) []byte {
		if h.Name == from {
			h.Name = to
		}
		return body
	})
}
