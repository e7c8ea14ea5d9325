package apitest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/test/image"
)

func busyboxID(t *testing.T, e *Env) string {
	t.Helper()
	img, err := e.Sup.GetImage(context.Background(), "docker.io/library/busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	return img.GetConfig().GetDigest()
}

func testImageInspectAndRemove(t *testing.T, e *Env) {
	ctx := context.Background()
	id := busyboxID(t, e)
	ins, err := e.Cl.ImageInspect(ctx, "busybox")
	if err != nil || ins.ID != id || len(ins.RepoTags) != 1 || ins.RepoTags[0] != "busybox:latest" || ins.Config == nil {
		t.Fatalf("inspect: %v %+v", err, ins)
	}
	if _, err := e.Cl.ImageInspect(ctx, "nosuch"); err == nil || !strings.Contains(err.Error(), "No such image: nosuch:latest") {
		t.Errorf("inspect unknown: %v", err)
	}
	cid := e.Create(t, &container.Config{Cmd: []string{"echo"}}, nil)
	if _, err := e.Cl.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{}); err == nil || !strings.Contains(err.Error(), "container "+cid[:12]+" is using its referenced image") {
		t.Errorf("rmi of a used image: %v", err)
	}
	if _, err := e.Cl.ContainerRemove(ctx, cid, client.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Cl.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{})
	if err != nil || len(out.Items) != 2 || out.Items[0].Untagged != "busybox:latest" || out.Items[1].Deleted != id {
		t.Errorf("rmi: %v %+v", err, out)
	}
	if imgs, err := e.Sup.ListImages(ctx); err != nil || len(imgs) != 0 {
		t.Errorf("images left: %v %v", imgs, err)
	}
}

// smallArchive is a docker-archive of a one-file image tagged ref.
func smallArchive(t *testing.T, ref string) []byte {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	body := []byte("small\n")
	tw.WriteHeader(&tar.Header{Name: "etc/small", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	img, err := image.New([][]byte{layer.Bytes()}, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := img.WriteDockerArchiveTo(&out, ref); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func testImageLoadAndInfo(t *testing.T, e *Env) {
	ctx := context.Background()
	lr, err := e.Cl.ImageLoad(ctx, bytes.NewReader(smallArchive(t, "alpine:3")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(lr)
	lr.Close()
	if string(b) != "{\"stream\":\"Loaded image: alpine:3\\n\"}\n" {
		t.Errorf("load: %q", b)
	}
	resp, body := e.Do(t, "POST", "/images/load", "not a tar")
	if resp.StatusCode != 400 || !strings.Contains(body, "message") {
		t.Errorf("bad archive: %d %s", resp.StatusCode, body)
	}
	imgs, err := e.Cl.ImageList(ctx, client.ImageListOptions{})
	if err != nil || len(imgs.Items) != 2 {
		t.Fatalf("images: %v %+v", err, imgs)
	}
	srv, err := e.Sup.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.Cl.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := info.Info
	if i.Images != 2 || i.OSType != "linux" || i.DefaultRuntime != srv.DefaultRuntime || i.Runtimes[srv.DefaultRuntime].Path == "" ||
		i.CgroupDriver != "cgroupfs" || i.NCPU == 0 || i.MemTotal == 0 || i.KernelVersion == "" {
		t.Errorf("info: %+v", i)
	}
}
