package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/test/image"
)

type tarEnt struct {
	name, link, body string
	typ              byte
}

func hostileTar(t *testing.T, ents ...tarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		if e.typ == 0 {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// pushRaw uploads layers and an image made of them straight to the
// registry (our own push would refuse to import them first).
func pushRaw(t *testing.T, host, repo, tag string, layers [][]byte) {
	t.Helper()
	pushRawCompressed(t, host, repo, tag, layers, nil)
}

// pushRawCompressed is pushRaw with compress turning layer i into the blob
// pushed and its media type.
func pushRawCompressed(t *testing.T, host, repo, tag string, layers [][]byte, compress func(i int, b []byte) ([]byte, string)) {
	t.Helper()
	img, err := image.New(layers, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(b []byte) ocispec.Descriptor {
		resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %v %v", err, resp)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = "http://" + host + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		d := digest.FromBytes(b)
		req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+d.String(), bytes.NewReader(b))
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %v %v", err, resp)
		}
		resp.Body.Close()
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
	}
	mf := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	mf.Config = upload(img.Config)
	mf.Config.MediaType = ocispec.MediaTypeImageConfig
	for i, l := range layers {
		mt := ocispec.MediaTypeImageLayer
		if compress != nil {
			l, mt = compress(i, l)
		}
		d := upload(l)
		d.MediaType = mt
		mf.Layers = append(mf.Layers, d)
	}
	b, _ := json.Marshal(mf)
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(b))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %v %v", err, resp)
	}
	resp.Body.Close()
}

// Escaping layers through a pull: ".." is refused (InvalidArgument, no
// image); symlinked parents and hardlinks to outside land inside the
// snapshot or fail, and nothing outside changes.
func TestRegistryPullHostileLayers(t *testing.T) {
	reg := startRegistry(t, false)
	e := newSvEnv(t, false)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkOutside := func() {
		t.Helper()
		ents, _ := os.ReadDir(outside)
		b, _ := os.ReadFile(secret)
		if len(ents) != 1 || string(b) != "keep" {
			t.Fatalf("outside changed: %d entries, secret %q", len(ents), b)
		}
	}

	pushRaw(t, reg.host, "dotdot", "1", [][]byte{hostileTar(t, tarEnt{name: "../../../../" + outside + "/evil", body: "evil"})})
	_, _, err := e.pull(t, reg.host+"/dotdot:1", nil)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "..") {
		t.Fatalf("pull of a layer with ..: %v", err)
	}
	checkOutside()

	rel := strings.Repeat("../", 20) + strings.TrimPrefix(outside, "/")
	links := hostileTar(t,
		tarEnt{name: "abs", typ: tar.TypeSymlink, link: outside},
		tarEnt{name: "rel", typ: tar.TypeSymlink, link: rel},
	)
	// Each escape on its own, in a second layer (applied on the mounted
	// overlay, where the first layer's links are).
	for i, ent := range []tarEnt{
		{name: "abs/new", body: "evil"},
		{name: "rel/secret", body: "evil"},
		{name: "hard", typ: tar.TypeLink, link: secret},
		{name: "hard2", typ: tar.TypeLink, link: "abs/secret"},
		{name: "hard3", typ: tar.TypeLink, link: "rel/secret"},
	} {
		repo := fmt.Sprintf("links%d", i)
		pushRaw(t, reg.host, repo, "1", [][]byte{links, hostileTar(t, ent)})
		img, _, err := e.pull(t, reg.host+"/"+repo+":1", nil)
		t.Logf("%s: %v", ent.name, err)
		checkOutside()
		if err == nil && img.ChainId == "" {
			t.Fatal("no rootfs")
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("pull of escaping %s: %v", ent.name, err)
		}
	}

	// The store is consistent: only complete images, verified blobs.
	for _, i := range e.contentBlobs(t) {
		if digest.FromBytes(e.readContent(t, svCtx(t), i)).String() != i {
			t.Fatalf("blob %s corrupt", i)
		}
	}
}
