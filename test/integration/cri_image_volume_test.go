package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// An image volume (mounts[i].image) is the image read-only at the
// container path, or its image_sub_path; the status reports the image's
// ID; a refused one (writable, a sub path not in the image) and a removed
// container leave no view snapshot, mount or directory.
func TestCRIImageVolume(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)
	pc := podConfig("imgvol")
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	})
	st, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img}})
	if err != nil || st.Image == nil {
		t.Fatalf("ImageStatus: %v %v", st, err)
	}
	imageID := st.Image.Id
	snaps := func() []string {
		l, err := e.sv.snaps.List(ctxK8s(t), &pb.ListSnapshotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range l.Info {
			if strings.HasPrefix(i.Name, "cri-image-volume-") {
				out = append(out, i.Name)
			}
		}
		return out
	}
	create := func(name string, mounts ...*runtimeapi.Mount) (string, error) {
		c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: img},
			Command: []string{"sleep", "1000"}, Mounts: mounts,
		}})
		return c.GetContainerId(), err
	}
	for field, m := range map[string]*runtimeapi.Mount{
		"mounts[0].readonly":       {ContainerPath: "/v", Image: &runtimeapi.ImageSpec{Image: img}},
		"mounts[0].image_sub_path": {ContainerPath: "/v", Readonly: true, Image: &runtimeapi.ImageSpec{Image: img}, ImageSubPath: "no/such"},
		"mounts[0].image":          {ContainerPath: "/v", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "nosuch:1"}},
	} {
		if _, err := create("bad", m); status.Code(err) == codes.OK || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an error naming it", field, err)
		}
	}
	if left := snaps(); len(left) > 0 {
		t.Errorf("refused image volumes left views: %v", left)
	}
	id, err := create("vol",
		&runtimeapi.Mount{ContainerPath: "/v", Readonly: true, Image: &runtimeapi.ImageSpec{Image: img}},
		&runtimeapi.Mount{ContainerPath: "/etc-of-image", Readonly: true, Image: &runtimeapi.ImageSpec{Image: img}, ImageSubPath: "etc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Timeout: 10, Cmd: []string{"sh", "-c",
		"/v/bin/busybox true && echo exec; test -f /etc-of-image/passwd && echo sub; test -e /etc-of-image/etc || echo notroot; touch /v/x 2>/dev/null || echo ro"}})
	if err != nil || string(r.Stdout) != "exec\nsub\nnotroot\nro\n" {
		t.Errorf("in the container: %q %q %v", r.GetStdout(), r.GetStderr(), err)
	}
	cs, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil || len(cs.Status.Mounts) != 2 || cs.Status.Mounts[0].GetImage().GetImageRef() != imageID {
		t.Errorf("status mounts: %v, %v; want image_ref %s", cs.GetStatus().GetMounts(), err, imageID)
	}
	if n := len(snaps()); n != 2 {
		t.Errorf("%d image volume views, want 2", n)
	}
	if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if left := snaps(); len(left) > 0 {
		t.Errorf("a removed container left views: %v", left)
	}
	if _, err := os.Stat(filepath.Join(e.sv.dir, "cri", "containers", id)); err == nil {
		t.Error("a removed container left its directory")
	}
	if left := criLeftovers(t, e.sv.dir); len(left) > 0 {
		for _, l := range left {
			if strings.Contains(l, "/containers/") {
				t.Errorf("left behind: %s", l)
			}
		}
	}
}
