package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// randomLayer is a tar of one file of n random bytes.
func randomLayer(t *testing.T, name string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// outOfProcess is bin/supervisord on a private root.
type outOfProcess struct {
	bin, root, state, sock string
	env                    []string // added to the environment
	cmd                    *exec.Cmd
}

func (o *outOfProcess) start(t *testing.T) *client.Client {
	t.Helper()
	o.cmd = exec.Command(o.bin, "--root", o.root, "--state", o.state, "--address", o.sock, "--log-level", "warn")
	logf, err := os.OpenFile(o.root+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	o.cmd.Stdout, o.cmd.Stderr = logf, logf
	o.cmd.Env = append(os.Environ(), o.env...)
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	c, err := client.New(o.sock, client.WithNamespace("test"), client.WithTimeout(20*time.Second))
	if err != nil {
		t.Fatalf("supervisord: %v", err)
	}
	return c
}

func (o *outOfProcess) kill9() {
	if o.cmd != nil && o.cmd.Process != nil {
		o.cmd.Process.Kill()
		o.cmd.Wait()
		o.cmd = nil
	}
}

// kill -9 of supervisord in the middle of a pull of a ~50 MB image: after a
// restart the store is consistent (no image, every blob verified, partial
// ingests kept) and pulling again completes, fetching fewer bytes.
func TestRegistryPullSurvivesKill9(t *testing.T) {
	bin := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, bin != "", "BERTH_BIN_DIR with bin/supervisord (make test-integration)")
	reg := startRegistry(t, false)

	var layers [][]byte
	total := 0
	for i := range 4 {
		l := randomLayer(t, fmt.Sprintf("data%d", i), 12<<20)
		layers = append(layers, l)
		total += len(l)
	}
	img, err := image.New(layers, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	if err := img.WriteDockerArchiveTo(&arch, "big:1"); err != nil {
		t.Fatal(err)
	}
	a := newSvEnv(t, false)
	ctx := svCtx(t)
	resp, err := a.importArchive(ctx, arch.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	src := resp.Images[0]
	if _, _, err := a.push(t, "big:1", reg.host+"/big:1", nil); err != nil {
		t.Fatalf("push: %v", err)
	}

	proxy := startCountingProxy(t, reg.host)
	proxy.holdAt.Store(int64(total / 2))
	dir, err := os.MkdirTemp("", "bk")
	if err != nil {
		t.Fatal(err)
	}
	o := &outOfProcess{bin: filepath.Join(bin, "supervisord"), root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"), sock: filepath.Join(dir, "s.sock")}
	t.Cleanup(func() {
		o.kill9()
		svUnmountUnder(dir)
		os.RemoveAll(dir)
	})
	c := o.start(t)
	ref := proxy.host + "/big:1"
	pulled := make(chan error, 1)
	go func() {
		_, err := c.Pull(context.Background(), ref, nil, nil)
		pulled <- err
	}()
	select {
	case <-proxy.held:
	case err := <-pulled:
		t.Fatalf("the pull ended before the kill: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("the pull did not get halfway")
	}
	o.kill9()
	if err := <-pulled; err == nil {
		t.Fatal("the pull succeeded despite the kill")
	}
	c.Close()
	firstBytes := proxy.served.Load()
	proxy.holdAt.Store(0)
	proxy.unhold()

	c = o.start(t)
	defer c.Close()
	ctx = svCtx(t)
	if l, err := c.ImageService().List(ctx, &pb.ListImagesRequest{}); err != nil || len(l.Images) != 0 {
		t.Fatalf("after the kill: images %v, %v", l, err)
	}
	infos, err := c.ContentService().List(ctx, &pb.ListContentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos.Info {
		b, err := c.ReadBlob(ctx, i.Digest)
		if err != nil || digest.FromBytes(b).String() != i.Digest {
			t.Fatalf("blob %s corrupt after the kill: %v", i.Digest, err)
		}
	}
	st, err := c.ContentService().ListStatuses(ctx, &pb.ListStatusesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	partial := int64(0)
	for _, s := range st.Statuses {
		partial += s.Offset
	}
	t.Logf("after the kill: %d bytes served, %d complete blobs, %d ingests holding %d bytes", firstBytes, len(infos.Info), len(st.Statuses), partial)
	if partial == 0 && len(infos.Info) < 3 {
		t.Fatalf("nothing of the first pull was kept: statuses %v", st.Statuses)
	}

	got, err := c.Pull(ctx, ref, nil, nil)
	if err != nil {
		t.Fatalf("pull again: %v", err)
	}
	second := proxy.served.Load() - firstBytes
	t.Logf("second pull fetched %d of %d layer bytes", second, total)
	// What the ingests held is not fetched again (the config is small).
	if second >= int64(total) || second > int64(total)-partial+64<<10 {
		t.Fatalf("the second pull fetched %d bytes of %d, with %d already here", second, total, partial)
	}
	if got.Config.Digest != src.Config.Digest || got.ChainId != src.ChainId {
		t.Fatalf("pulled %+v, source %+v", got, src)
	}
	if st, _ := c.ContentService().ListStatuses(ctx, &pb.ListStatusesRequest{}); len(st.Statuses) != 0 {
		t.Fatalf("ingests left after the pull: %v", st.Statuses)
	}
}
