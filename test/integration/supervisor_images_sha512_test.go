package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// An OCI layout whose blobs are all sha512 imports through the API, its
// layer unpacks, and garbage collection frees the sha512 blobs.
func TestSupervisorImagesSHA512(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	var lb bytes.Buffer
	lw := tar.NewWriter(&lb)
	lw.WriteHeader(&tar.Header{Name: "etc/hostname", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	lw.Write([]byte("sha"))
	lw.Close()
	layer := lb.Bytes()
	cb, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
	ld := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.SHA512.FromBytes(layer), Size: int64(len(layer))}
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.SHA512.FromBytes(cb), Size: int64(len(cb))}
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromBytes(mb), Size: int64(len(mb)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "example.com/sha512:v1"}}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": ib,
		"blobs/sha512/" + ld.Digest.Encoded(): layer, "blobs/sha512/" + cd.Digest.Encoded(): cb, "blobs/sha512/" + md.Digest.Encoded(): mb,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	resp, err := e.importArchive(ctx, buf.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	img := resp.Images[0]
	if img.Target.Digest != md.Digest.String() || img.Config.Digest != cd.Digest.String() {
		t.Fatalf("imported %+v", img)
	}
	if got := e.readContent(t, ctx, ld.Digest.String()); !bytes.Equal(got, layer) {
		t.Fatal("layer read back differs")
	}
	if _, err := e.snaps.Stat(ctx, &pb.StatSnapshotRequest{Key: img.ChainId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Delete(ctx, &pb.DeleteImageRequest{Name: img.Name}); err != nil {
		t.Fatal(err)
	}
	r, err := pb.NewLeasesClient(e.conn).GarbageCollect(ctx, &pb.GarbageCollectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string]bool{}
	for _, d := range r.RemovedBlobs {
		removed[d] = true
	}
	for _, d := range []digest.Digest{ld.Digest, cd.Digest, md.Digest} {
		if !removed[d.String()] {
			t.Errorf("gc kept %s (removed %v)", d, r.RemovedBlobs)
		}
	}
	if len(r.RemovedSnapshots) != 1 {
		t.Errorf("gc removed snapshots %v", r.RemovedSnapshots)
	}
}
