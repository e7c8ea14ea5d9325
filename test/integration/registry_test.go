package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/supervisor"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Push busybox, pull it into a fresh supervisor: same digests; by digest
// too; skopeo reads what we pushed; a push to another repository mounts the
// blobs; a push again finds every blob there; big blobs go up in chunks.
func TestRegistryPushPull(t *testing.T) {
	reg := startRegistry(t, false)
	a := newRegEnv(t, func(c *supervisor.Config) { c.Distribution.ChunkSize = 256 << 10 })
	ctx := svCtx(t)
	src := a.importBusybox(t, ctx, "busybox:latest")
	ref := reg.host + "/busybox:latest"

	dgst, prog, err := a.push(t, "busybox", ref, nil)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if statuses(prog, "pushing") == 0 {
		t.Fatalf("push reported no upload: %v", prog)
	}
	if dgst != src.Target.Digest {
		t.Fatalf("pushed manifest %s, the image's is %s", dgst, src.Target.Digest)
	}
	// The layer (over 256 KiB) went up in PATCH chunks, the config in one PUT.
	if len(reg.logLines(`method=PATCH`, "/v2/busybox/blobs/uploads/")) < 2 {
		t.Fatalf("no chunked upload in the registry log:\n%s", strings.Join(reg.logLines("/v2/busybox/blobs/uploads/"), "\n"))
	}

	// From outside: skopeo sees the same manifest and copies the image.
	if _, err := exec.LookPath("skopeo"); err == nil {
		out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "docker://"+ref).CombinedOutput()
		if err != nil || !strings.Contains(string(out), dgst) {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		oci := filepath.Join(t.TempDir(), "oci")
		out, err = exec.Command("skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+oci+":latest").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo copy: %v\n%s", err, out)
		}
		// skopeo may recompress uncompressed layers (a new manifest), but
		// the config it copied is ours byte for byte.
		if _, err := os.Stat(filepath.Join(oci, "blobs", "sha256", strings.TrimPrefix(src.Config.Digest, "sha256:"))); err != nil {
			t.Fatalf("skopeo's copy lacks our config: %v", err)
		}
	} else {
		testprereq.Require(t, false, "skopeo")
	}

	// Pushing again: the registry has every blob.
	if _, prog, err := a.push(t, "busybox", ref, nil); err != nil || statuses(prog, "exists") != 2 {
		t.Fatalf("second push: %v %v", err, prog)
	}

	// A fresh supervisor pulls it back, identical.
	b := newSvEnv(t, false)
	img, prog, err := b.pull(t, ref, nil)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if img.Target.Digest != dgst || img.Config.Digest != src.Config.Digest || img.ChainId != src.ChainId {
		t.Fatalf("pulled %+v\nsource %+v", img, src)
	}
	if img.Name != ref || statuses(prog, "extracting") != 1 {
		t.Fatalf("pulled %q, progress %v", img.Name, prog)
	}
	// By digest.
	byDigest := reg.host + "/busybox@" + dgst
	img2, _, err := b.pull(t, byDigest, nil)
	if err != nil || img2.Target.Digest != dgst || img2.Name != byDigest {
		t.Fatalf("pull by digest: %v %+v", err, img2)
	}
	// A tag that is not there is NotFound.
	if _, _, err := b.pull(t, reg.host+"/busybox:nope", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("pull of a missing tag: %v", err)
	}

	if info, err := b.cont.Info(svCtx(t), &pb.InfoRequest{Digest: src.Config.Digest}); err != nil || info.Info.Labels["berth.distribution.source."+reg.host] != "busybox" {
		t.Fatalf("source label of the config: %v %+v", err, info)
	}
	// b knows its blobs came from repository "busybox": a push to another
	// repository of the registry mounts them instead of uploading.
	other := reg.host + "/team/copy:v1"
	if _, prog, err := b.push(t, ref, other, nil); err != nil || statuses(prog, "mounted") != 2 {
		t.Fatalf("push to another repository: %v %v", err, prog)
	}
	if n := len(reg.logLines("method=POST", "/v2/team/copy/blobs/uploads/", "mount=", "status=201")); n != 2 {
		t.Fatalf("registry saw %d mounts:\n%s", n, strings.Join(reg.logLines("/v2/team/copy/"), "\n"))
	}
	if n := len(reg.logLines("method=PUT", "/v2/team/copy/blobs/uploads/")); n != 0 {
		t.Fatalf("blobs uploaded despite the mount:\n%s", strings.Join(reg.logLines("/v2/team/copy/"), "\n"))
	}
}

// A registry with basic auth: without credentials a clear error, with them
// (given, or from a docker config.json) push and pull work.
func TestRegistryBasicAuth(t *testing.T) {
	reg := startRegistry(t, true)
	a := newSvEnv(t, false)
	ctx := svCtx(t)
	src := a.importBusybox(t, ctx, "busybox:latest")
	ref := reg.host + "/private/busybox:1"

	_, _, err := a.push(t, "busybox", ref, nil)
	if !errdefs.IsUnauthenticated(err) || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("push without credentials: %v", err)
	}
	bad := reg.auth()
	bad.Password = "wrong"
	if _, _, err := a.push(t, "busybox", ref, bad); !errdefs.IsUnauthenticated(err) {
		t.Fatalf("push with a wrong password: %v", err)
	}
	dgst, _, err := a.push(t, "busybox", ref, reg.auth())
	if err != nil || dgst != src.Target.Digest {
		t.Fatalf("push with credentials: %v %s", err, dgst)
	}

	// Credentials from a docker config.json.
	cfgDir := t.TempDir()
	cred := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.password))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+reg.host+`":{"auth":"`+cred+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newRegEnv(t, func(c *supervisor.Config) { c.Distribution.DockerConfig = filepath.Join(cfgDir, "config.json") })
	img, _, err := b.pull(t, ref, nil)
	if err != nil || img.Target.Digest != dgst {
		t.Fatalf("pull with docker config credentials: %v", err)
	}
	c := newSvEnv(t, false)
	if _, _, err := c.pull(t, ref, nil); !errdefs.IsUnauthenticated(err) {
		t.Fatalf("pull without credentials: %v", err)
	}
	if img, _, err := c.pull(t, ref, reg.auth()); err != nil || img.Config.Digest != src.Config.Digest {
		t.Fatalf("pull with credentials: %v", err)
	}
}

// gzip and zstd layers pull and unpack into the same chain IDs as plain ones.
func TestRegistryPullCompressedLayers(t *testing.T) {
	reg := startRegistry(t, false)
	e := newSvEnv(t, false)
	layers := [][]byte{randomLayer(t, "a", 300<<10), randomLayer(t, "b", 200<<10)}
	pushRawCompressed(t, reg.host, "comp", "1", layers, func(i int, b []byte) ([]byte, string) {
		var buf bytes.Buffer
		if i == 0 {
			w := gzip.NewWriter(&buf)
			w.Write(b)
			w.Close()
			return buf.Bytes(), ocispec.MediaTypeImageLayerGzip
		}
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes(), ocispec.MediaTypeImageLayerZstd
	})
	img, _, err := e.pull(t, reg.host+"/comp:1", nil)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	want := identity.ChainID([]digest.Digest{digest.FromBytes(layers[0]), digest.FromBytes(layers[1])})
	if img.ChainId != want.String() {
		t.Fatalf("chain %s, want %s", img.ChainId, want)
	}
}
