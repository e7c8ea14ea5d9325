package integration

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// platformsArchive is an OCI layout tar of example.com/multi:1, an index
// of busybox (linux/amd64) and of a one-file image for linux/s390x.
func platformsArchive(t *testing.T) (arch []byte, s390xConfig, s390xLayer, busyboxLayer digest.Digest) {
	t.Helper()
	bb, err := image.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	other, err := image.New([][]byte{hostileTar(t, tarEnt{name: "s390x", body: "s390x\n"})}, []string{"sh"})
	if err == nil {
		other, err = other.ForPlatform(ocispec.Platform{OS: "linux", Architecture: "s390x"})
	}
	var buf bytes.Buffer
	if err == nil {
		err = image.WriteOCIIndexArchiveTo(&buf, "example.com/multi:1", bb, other)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), other.ConfigID, other.DiffIDs[0], bb.DiffIDs[0]
}

// Images.Import with platforms, through the API: the platform asked for
// is what is stored of an index, and one the archive lacks is refused,
// NotFound and naming it, with nothing stored.
func TestSupervisorImportPlatform(t *testing.T) {
	e := newSvEnv(t, false)
	ctx := svCtx(t)
	arch, cfg, layer, bbLayer := platformsArchive(t)

	before := e.storeState(t, ctx)
	_, err := e.importArchive(ctx, arch, "", &pb.Platform{Os: "linux", Architecture: "arm64"})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/arm64") || !strings.Contains(err.Error(), "example.com/multi:1") {
		t.Errorf("import for linux/arm64: %v", err)
	}
	if _, err := e.importArchive(ctx, arch, "", &pb.Platform{Os: "linux"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("import for a platform without architecture: %v", err)
	}
	if after := e.storeState(t, ctx); !reflect.DeepEqual(before, after) {
		t.Errorf("refused imports changed the store:\n%v\n->\n%v", before, after)
	}

	resp, err := e.importArchive(ctx, arch, "", &pb.Platform{Os: "linux", Architecture: "s390x"})
	if err != nil || len(resp.Images) != 1 {
		t.Fatalf("import for linux/s390x: %v %v", err, resp)
	}
	img := resp.Images[0]
	if img.Name != "example.com/multi:1" || img.Config.GetDigest() != cfg.String() || img.ChainId != layer.String() || img.Target.GetMediaType() != ocispec.MediaTypeImageIndex {
		t.Errorf("imported: %+v", img)
	}
	if _, err := e.cont.Info(ctx, &pb.InfoRequest{Digest: bbLayer.String()}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		t.Errorf("busybox's layer, of the platform not asked for, is stored: %v", err)
	}
}
