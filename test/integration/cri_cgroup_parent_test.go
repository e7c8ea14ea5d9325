package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A pod's cgroup parent is taken from the hierarchy's root, as the
// kubelet (cgroupfs driver) makes and limits it: the pod's pause and
// containers are below it, and gone from it once removed.
func TestCRICgroupParent(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)
	parent := fmt.Sprintf("/berth-test-kubepods-%d/pod1", os.Getpid())
	mem := filepath.Join("/sys/fs/cgroup/memory", parent)
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		mem = filepath.Join("/sys/fs/cgroup", parent) // cgroup v2
	}
	t.Cleanup(func() { os.Remove(mem); os.Remove(filepath.Dir(mem)) })
	pc := podConfig("cgparent")
	pc.Linux.CgroupParent = parent
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	})
	c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: img}, Command: []string{"sleep", "1000"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{pod.PodSandboxId, c.ContainerId} {
		if _, err := os.Stat(filepath.Join(mem, id)); err != nil {
			t.Errorf("%s is not below the cgroup parent: %v", id, err)
		}
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{pod.PodSandboxId, c.ContainerId} {
		if _, err := os.Stat(filepath.Join(mem, id)); err == nil {
			t.Errorf("the cgroup of %s is left", id)
		}
	}
}
