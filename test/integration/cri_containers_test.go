package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A container's security context and mounts: run_as_user and group,
// supplemental groups, a read-only rootfs, dropped capabilities, a
// privileged container with a bidirectional mount that the host sees,
// host network; resources updated while it runs.
func TestCRIContainerConfig(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)
	pc := podConfig("sec")
	pc.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	})
	start := func(name string, lc *runtimeapi.LinuxContainerConfig, mounts ...*runtimeapi.Mount) string {
		t.Helper()
		c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: img},
			Command: []string{"sleep", "1000"}, Linux: lc, Mounts: mounts,
		}})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", name, err)
		}
		if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s: %v", name, err)
		}
		return c.ContainerId
	}
	sh := func(id, script string) (string, int32) {
		t.Helper()
		r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", script}, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(r.Stdout) + string(r.Stderr)), r.ExitCode
	}

	restricted := start("restricted", &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: &runtimeapi.Int64Value{Value: 1234}, RunAsGroup: &runtimeapi.Int64Value{Value: 2345},
		SupplementalGroups: []int64{3456}, ReadonlyRootfs: true,
		Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}},
	}})
	if out, _ := sh(restricted, "id -u; id -g; id -G"); out != "1234\n2345\n2345 3456" {
		t.Errorf("ids = %q", out)
	}
	if _, code := sh(restricted, "touch /x"); code == 0 {
		t.Error("wrote to a read-only rootfs")
	}
	if out, _ := sh(restricted, "grep CapBnd /proc/self/status"); !strings.HasSuffix(out, "0000000000000400") {
		t.Errorf("bounding set = %q, want NET_BIND_SERVICE only", out)
	}
	if _, err := e.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: restricted, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := sh(restricted, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"); out != "67108864" {
		t.Errorf("memory limit after update = %q", out)
	}
	if st, err := e.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: restricted}); err != nil || st.Stats.Memory.WorkingSetBytes.GetValue() == 0 {
		t.Errorf("ContainerStats = %v, %v", st, err)
	}

	// bidirectional: a mount made in the container appears on the host
	src := filepath.Join(e.sv.dir, "shared")
	os.MkdirAll(src, 0o755)
	if err := unix.Mount(src, src, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "inner"), unix.MNT_DETACH); unix.Unmount(src, unix.MNT_DETACH) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	priv := start("priv", &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}},
		&runtimeapi.Mount{ContainerPath: "/shared", HostPath: src, Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL})
	if out, code := sh(priv, "mkdir -p /shared/inner && mount -t tmpfs tmpfs /shared/inner && echo hi > /shared/inner/f"); code != 0 {
		t.Fatalf("mount in the container: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(src, "inner", "f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("the host does not see the container's mount: %q, %v", b, err)
	}
}

// Error paths: unknown IDs are NotFound, bad configs name the field, and
// a refused container or pod leaves nothing behind.
func TestCRIErrors(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)
	for name, call := range map[string]func() error{
		"PodSandboxStatus": func() error {
			_, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "nosuch"})
			return err
		},
		"ContainerStatus": func() error {
			_, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nosuch"})
			return err
		},
		"StartContainer": func() error {
			_, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "nosuch"})
			return err
		},
		"ExecSync": func() error {
			_, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "nosuch", Cmd: []string{"true"}})
			return err
		},
		"CreateContainer": func() error {
			_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "nosuch", Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: img}}})
			return err
		},
		"PortForward": func() error {
			_, err := e.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "nosuch", Port: []int32{80}})
			return err
		},
		"ContainerStats": func() error {
			_, err := e.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "nosuch"})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s of an unknown ID: %v, want NotFound", name, err)
		}
	}

	bad := podConfig("bad")
	bad.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
		UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}}}
	if _, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: bad}); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "userns_options") {
		t.Errorf("a pod in a user namespace: %v", err)
	}
	if _, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("a pod without metadata: %v", err)
	}
	pc := podConfig("ok")
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	snaps := func() int {
		l, err := e.sv.snaps.List(ctxK8s(t), &pb.ListSnapshotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Info)
	}
	before := snaps()
	for field, cfg := range map[string]*runtimeapi.ContainerConfig{
		"image.image": {Metadata: &runtimeapi.ContainerMetadata{Name: "a"}, Image: &runtimeapi.ImageSpec{Image: "nosuch:latest"}},
		"mounts[0].recursive_read_only": {Metadata: &runtimeapi.ContainerMetadata{Name: "b"}, Image: &runtimeapi.ImageSpec{Image: img},
			Mounts: []*runtimeapi.Mount{{ContainerPath: "/m", HostPath: e.sv.dir, RecursiveReadOnly: true}}},
		"linux.security_context.run_as_user": {Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: img},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "nosuchuser"}}},
		"devices[0].host_path": {Metadata: &runtimeapi.ContainerMetadata{Name: "d"}, Image: &runtimeapi.ImageSpec{Image: img},
			Devices: []*runtimeapi.Device{{HostPath: "/nonexistent", ContainerPath: "/dev/x"}}},
		"linux.security_context.capabilities.add_capabilities": {Metadata: &runtimeapi.ContainerMetadata{Name: "e"}, Image: &runtimeapi.ImageSpec{Image: img},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"NOSUCH"}}}}},
	} {
		_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: pc, Config: cfg})
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an error naming it", field, err)
		}
	}
	if n := snaps(); n != before {
		t.Errorf("refused containers left %d snapshots", n-before)
	}
	l, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(l.Containers) != 0 {
		t.Errorf("refused containers are listed: %v, %v", l, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if left := criLeftovers(t, e.sv.dir, pod.PodSandboxId); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}
