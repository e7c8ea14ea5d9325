package integration

import (
	"encoding/base64"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// The runtime's identity and conditions, and its cgroup driver.
func TestCRIStatus(t *testing.T) {
	e := newCRIEnv(t, false)
	e.writeCNI(t)
	ctx := criCtx(t)
	v, err := e.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "berth" || v.RuntimeApiVersion != "v1" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	st, err := e.rt.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if !c.Status {
			t.Errorf("condition %s is false: %s", c.Type, c.Message)
		}
	}
	rc, err := e.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Fatalf("RuntimeConfig = %v, %v", rc, err)
	}
	_, err = e.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.1.0.0/33"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a bad pod CIDR: %v, want InvalidArgument", err)
	}
	// the supervisor gone: RuntimeReady turns false, the call still answers
	e.sv.stop(t)
	st, err = e.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil || st.Status.Conditions[0].Status {
		t.Fatalf("Status without a supervisor = %v, %v", st, err)
	}
}

// Pull with the request's credentials from a registry with basic auth,
// list, status, remove by tag and by ID; what is not there is an empty
// status and a removal that succeeds; bad credentials fail clearly.
func TestCRIImages(t *testing.T) {
	reg := startRegistry(t, true)
	e := newCRIEnv(t, false)
	// the image reaches the registry from another namespace of the
	// supervisor: the CRI's k8s.io namespace starts empty
	svc := namespaces.WithNamespace(criCtx(t), "test")
	e.sv.importBusybox(t, svc, "busybox:latest")
	ref := reg.host + "/cri/busybox:1"
	if _, _, err := e.sv.push(t, "busybox", ref, reg.auth()); err != nil {
		t.Fatal(err)
	}
	ctx := criCtx(t)
	l, err := e.img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(l.Images) != 0 {
		t.Fatalf("ListImages in a new namespace = %v, %v", l, err)
	}
	spec := &runtimeapi.ImageSpec{Image: ref}
	_, err = e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: &runtimeapi.AuthConfig{Username: reg.user, Password: "wrong"}})
	if err == nil {
		t.Fatal("a pull with a wrong password succeeded")
	}
	auth := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.password))
	p, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: &runtimeapi.AuthConfig{Auth: auth}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec, Verbose: true})
	if err != nil || st.Image == nil {
		t.Fatalf("ImageStatus = %v, %v", st, err)
	}
	if st.Image.Id != p.ImageRef || !slices.Contains(st.Image.RepoTags, ref) || len(st.Image.RepoDigests) != 1 || st.Image.Size == 0 || st.Info["info"] == "" {
		t.Fatalf("ImageStatus = %+v", st.Image)
	}
	byID, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: p.ImageRef}})
	if err != nil || byID.Image == nil || byID.Image.Id != p.ImageRef {
		t.Fatalf("ImageStatus by ID = %v, %v", byID, err)
	}
	fs, err := e.img.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 || fs.ImageFilesystems[0].UsedBytes.Value == 0 {
		t.Fatalf("ImageFsInfo = %v, %v", fs, err)
	}
	// a second tag, then removal by tag keeps the image under the other
	kctx := namespaces.WithNamespace(ctx, "k8s.io")
	rec, err := e.sv.images.Get(kctx, &pb.GetImageRequest{Name: ref})
	if err != nil {
		t.Fatal(err)
	}
	ref2 := reg.host + "/cri/busybox:2"
	if _, err := e.sv.images.Create(kctx, &pb.CreateImageRequest{Image: &pb.Image{Name: ref2, Target: rec.Image.Target}}); err != nil {
		t.Fatal(err)
	}
	l, err = e.img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(l.Images) != 1 || len(l.Images[0].RepoTags) != 2 {
		t.Fatalf("ListImages with two tags = %v, %v", l, err)
	}
	if _, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
		t.Fatal(err)
	}
	st, err = e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: p.ImageRef}})
	if err != nil || st.Image == nil || !slices.Equal(st.Image.RepoTags, []string{ref2}) {
		t.Fatalf("after removing one tag: %v, %v", st, err)
	}
	if _, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: p.ImageRef}}); err != nil {
		t.Fatal(err)
	}
	st, err = e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
	if err != nil || st.Image != nil {
		t.Fatalf("ImageStatus of a removed image = %v, %v; want an empty answer", st, err)
	}
	if _, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
		t.Fatalf("removing a removed image: %v; want success", err)
	}
	if _, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("pull of an empty reference: %v, want InvalidArgument", err)
	}
	if _, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: &runtimeapi.AuthConfig{Auth: "%%%"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("pull with a bad auth: %v, want InvalidArgument", err)
	}
}
