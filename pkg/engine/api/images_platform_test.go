package api

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// otherArch is an architecture this host is not.
func otherArch() string {
	if runtime.GOARCH == "s390x" {
		return "riscv64"
	}
	return "s390x"
}

var (
	hostPlatform  = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	otherPlatform = ocispec.Platform{OS: "linux", Architecture: otherArch()}
)

func platformQuery(p ocispec.Platform) string {
	b, _ := json.Marshal(p)
	return url.QueryEscape(string(b))
}

// addForeign records an image whose config is for otherPlatform.
func addForeign(e *imgEnv, name string) {
	e.sup.AddImage(name, "sha256:"+strings.Repeat("9", 64), &ocispec.Image{Platform: otherPlatform})
}

func TestHistoryInspectPlatform(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	addForeign(e, "docker.io/library/far:1")
	// busybox's config names no platform: it is this host's.
	if _, err := e.cl.ImageHistory(ctx, "busybox", client.ImageHistoryWithPlatform(hostPlatform)); err != nil {
		t.Errorf("history of busybox for this host: %v", err)
	}
	if _, err := e.cl.ImageHistory(ctx, "far:1", client.ImageHistoryWithPlatform(otherPlatform)); err != nil {
		t.Errorf("history of far:1 for its platform: %v", err)
	}
	_, err := e.cl.ImageHistory(ctx, "far:1", client.ImageHistoryWithPlatform(hostPlatform))
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "far:1") || !strings.Contains(err.Error(), "linux/"+runtime.GOARCH) || !strings.Contains(err.Error(), "linux/"+otherArch()) {
		t.Errorf("history of far:1 for this host: %v", err)
	}
	// Spellings of the same platform match; a variant asked must be there.
	if resp, body := e.do(t, "GET", "/images/busybox/history?platform="+url.QueryEscape(`{"os":"linux","architecture":"`+map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]+`"}`), nil); runtime.GOARCH == "amd64" && resp.StatusCode != 200 {
		t.Errorf("x86_64 spelling: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, "GET", "/images/busybox/history?platform="+url.QueryEscape(`{"os":"linux","architecture":"`+runtime.GOARCH+`","variant":"v9"}`), nil); resp.StatusCode != 404 {
		t.Errorf("variant v9: %d", resp.StatusCode)
	}
	for _, bad := range []string{"linux/amd64", `{"os":"linux"}`, `{"os":"linux","architecture":"amd64","colour":"red"}`} {
		resp, body := e.do(t, "GET", "/images/busybox/history?platform="+url.QueryEscape(bad), nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "platform") {
			t.Errorf("history platform %q: %d %s", bad, resp.StatusCode, body)
		}
	}

	p := otherPlatform
	res, err := e.cl.ImageInspect(ctx, "far:1", client.ImageInspectWithPlatform(&p))
	if err != nil || res.Architecture != otherArch() {
		t.Errorf("inspect far:1 for its platform: %v %+v", err, res)
	}
	p = hostPlatform
	if _, err := e.cl.ImageInspect(ctx, "far:1", client.ImageInspectWithPlatform(&p)); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "far:1") {
		t.Errorf("inspect far:1 for this host: %v", err)
	}
	if resp, body := e.do(t, "GET", "/images/far:1/json?platform=%7B", nil); resp.StatusCode != 400 || !strings.Contains(body, "platform") {
		t.Errorf("inspect bad platform: %d %s", resp.StatusCode, body)
	}
}

func TestRmiPlatform(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	addForeign(e, "docker.io/library/far:1")
	for _, ps := range [][]ocispec.Platform{{hostPlatform}, {otherPlatform, hostPlatform}} {
		if _, err := e.cl.ImageRemove(ctx, "far:1", client.ImageRemoveOptions{Platforms: ps}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "far:1") {
			t.Errorf("rmi far:1 %v: %v", ps, err)
		}
	}
	if _, err := e.sup.GetImage(ctx, "docker.io/library/far:1"); err != nil {
		t.Fatalf("a refused rmi removed the image: %v", err)
	}
	if resp, body := e.do(t, "DELETE", "/images/far:1?platforms=x", nil); resp.StatusCode != 400 || !strings.Contains(body, "platforms") {
		t.Errorf("rmi bad platforms: %d %s", resp.StatusCode, body)
	}
	res, err := e.cl.ImageRemove(ctx, "far:1", client.ImageRemoveOptions{Platforms: []ocispec.Platform{otherPlatform}})
	if err != nil || len(res.Items) == 0 || res.Items[0].Untagged != "far:1" {
		t.Errorf("rmi far:1 of its platform: %v %+v", err, res)
	}
	if _, err := e.sup.GetImage(ctx, "docker.io/library/far:1"); !errdefs.IsNotFound(err) {
		t.Errorf("far:1 still there: %v", err)
	}
}

func TestPushPlatform(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	addForeign(e, "localhost:5000/far:1")
	push := func(p ocispec.Platform) error {
		res, err := e.cl.ImagePush(ctx, "localhost:5000/far:1", client.ImagePushOptions{RegistryAuth: "e30=", Platform: &p})
		if err != nil {
			return err
		}
		defer res.Close()
		return res.Wait(ctx)
	}
	if err := push(hostPlatform); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "localhost:5000/far:1") || len(e.sup.Pushed) != 0 {
		t.Errorf("push far:1 for this host: %v, pushed %v", err, e.sup.Pushed)
	}
	if err := push(otherPlatform); err != nil || len(e.sup.Pushed) != 1 {
		t.Errorf("push far:1 for its platform: %v, pushed %v", err, e.sup.Pushed)
	}
	if resp, body := e.do(t, "POST", "/images/localhost:5000/far/push?tag=1&platform=linux", nil); resp.StatusCode != 400 || !strings.Contains(body, "platform") {
		t.Errorf("push bad platform: %d %s", resp.StatusCode, body)
	}
	// A whole index stored here would go as the index: --platform must
	// push one manifest, which the supervisor cannot be asked for.
	mf := digest.FromString("manifest")
	idx, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: mf, Platform: &otherPlatform}}})
	e.sup.Blobs[digest.FromBytes(idx).String()] = idx
	e.sup.Blobs[mf.String()] = []byte("{}")
	img, _ := e.sup.GetImage(ctx, "localhost:5000/far:1")
	img.Target.MediaType, img.Target.Digest = ocispec.MediaTypeImageIndex, digest.FromBytes(idx).String()
	if err := push(otherPlatform); !errdefs.IsNotImplemented(err) || len(e.sup.Pushed) != 1 {
		t.Errorf("push of a whole index for one platform: %v, pushed %v", err, e.sup.Pushed)
	}
	// Only the manifest of its platform here: that one is what goes.
	delete(e.sup.Blobs, mf.String())
	idx, _ = json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Platform: &hostPlatform},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: mf, Platform: &otherPlatform},
	}})
	e.sup.Blobs[digest.FromBytes(idx).String()] = idx
	img.Target.Digest = digest.FromBytes(idx).String()
	e.sup.Blobs[mf.String()] = []byte("{}")
	if err := push(otherPlatform); err != nil || len(e.sup.Pushed) != 2 {
		t.Errorf("push of one manifest of an index: %v, pushed %v", err, e.sup.Pushed)
	}
}

func TestSavePlatform(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	addForeign(e, "docker.io/library/far:1")
	res, err := e.cl.ImageSave(ctx, []string{"far:1"}, client.ImageSaveWithPlatforms(otherPlatform))
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, res)
	res.Close()
	if !strings.Contains(files["names"], "far:1") {
		t.Errorf("save of far:1 for its platform: %v", files)
	}
	if _, err := e.cl.ImageSave(ctx, []string{"busybox", "far:1"}, client.ImageSaveWithPlatforms(hostPlatform)); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "far:1") {
		t.Errorf("save of far:1 for this host: %v", err)
	}
	if resp, body := e.do(t, "GET", "/images/far:1/get?platform="+platformQuery(hostPlatform), nil); resp.StatusCode != 404 {
		t.Errorf("GET /images/far:1/get for this host: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "GET", "/images/get?names=busybox&platform=amd64", nil); resp.StatusCode != 400 || !strings.Contains(body, "platform") {
		t.Errorf("save bad platform: %d %s", resp.StatusCode, body)
	}
}

// tarOf writes files (name, content pairs) as a tar.
func tarOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

func dockerArchiveFor(t *testing.T, name string, p ocispec.Platform) []byte {
	cfg, _ := json.Marshal(ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers"}})
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	mf, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{name}, "Layers": []string{}}})
	return tarOf(t, cfgName, string(cfg), "manifest.json", string(mf))
}

// The engine passes the platforms asked for to the supervisor's importer,
// which reads the archive (pkg/images TestImportPlatform*), and relays
// its refusal with its class and message.
func TestLoadPlatform(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	load := func(archive []byte, ps ...ocispec.Platform) (string, error) {
		res, err := e.cl.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithPlatforms(ps...))
		if err != nil {
			return "", err
		}
		defer res.Close()
		var buf bytes.Buffer
		buf.ReadFrom(res)
		return buf.String(), nil
	}
	far := dockerArchiveFor(t, "far:1", otherPlatform)
	if out, err := load(far, otherPlatform, hostPlatform); err != nil || !strings.Contains(out, "Loaded image: far:1") {
		t.Errorf("load of far:1: %v %s", err, out)
	}
	// Without a platform, as before: none is passed.
	if out, err := load(dockerArchiveFor(t, "near:1", hostPlatform)); err != nil || !strings.Contains(out, "Loaded image: near:1") {
		t.Errorf("load without platform: %v %s", err, out)
	}
	if got, want := e.sup.ImportPlatforms(), [][]ocispec.Platform{{otherPlatform, hostPlatform}, nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("platforms passed: %+v, want %+v", got, want)
	}
	if resp, body := e.do(t, "POST", "/images/load?platform=linux%2Famd64", nil); resp.StatusCode != 400 || !strings.Contains(body, "platform") {
		t.Errorf("load bad platform: %d %s", resp.StatusCode, body)
	}
	if n := len(e.sup.ImportPlatforms()); n != 2 {
		t.Errorf("a bad platform reached the supervisor: %d imports", n)
	}

	// The supervisor's refusals, as the API's.
	const missing = "import: the archive has no linux/s390x variant of image docker.io/library/far:1 (it holds linux/amd64); nothing was imported"
	e.sup.ImportErr = errdefs.Classf(errdefs.ErrNotFound, missing)
	if _, err := load(far, otherPlatform); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("load of a platform the archive lacks: %v", err)
	}
	e.sup.ImportErr = errdefs.Classf(errdefs.ErrNotImplemented, "two manifests of linux/s390x and linux/arm64")
	if _, err := load(far, otherPlatform); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("load of two platforms of an index: %v", err)
	}
}

// Below the API version that brought an endpoint's platform parameter,
// dockerd ignores it unread, a bad one too; from that version it counts.
func TestPlatformIgnoredBeforeItsVersion(t *testing.T) {
	e := newImgEnv(t)
	addForeign(e, "docker.io/library/far:1")
	host := platformQuery(hostPlatform)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1.48/images/far:1/json?platform=" + host, 200},
		{"GET", "/v1.48/images/far:1/json?platform=%7B", 200},
		{"GET", "/v1.48/images/far:1/json?manifests=1&platform=" + host, 200},
		{"GET", "/v1.49/images/far:1/json?platform=" + host, 404},
		{"GET", "/v1.49/images/far:1/json?platform=%7B", 400},
		{"GET", "/v1.47/images/far:1/history?platform=%7B", 200},
		{"GET", "/v1.48/images/far:1/history?platform=%7B", 400},
		{"GET", "/v1.47/images/get?names=far:1&platform=%7B", 200},
		{"GET", "/v1.48/images/get?names=far:1&platform=%7B", 400},
		{"DELETE", "/v1.50/images/far:1?platforms=x", 400},
		{"DELETE", "/v1.49/images/far:1?platforms=" + host, 200},
	} {
		if resp, body := e.do(t, c.method, c.path, nil); resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %.200s", c.method, c.path, resp.StatusCode, c.status, body)
		}
	}
}
