package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A pod on a CNI bridge with two containers: they share the pod's network
// (one reaches the other on localhost), hostname and DNS config; exec,
// logs in the CRI format, stop with a timeout, status and list with
// filters; removing the pod leaves no mount, netns, or cgroup.
func TestCRIPodLifecycle(t *testing.T) {
	e := newCRIEnv(t, true)
	ctx := criCtx(t)
	st, err := e.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil || st.Status.Conditions[1].Status {
		t.Fatalf("NetworkReady without a CNI config = %v, %v", st, err)
	}
	net := e.writeCNI(t)
	img := e.criBusybox(t)
	logDir := filepath.Join(e.sv.dir, "logs")

	pc := podConfig("web")
	pc.LogDirectory = logDir
	pc.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"test.svc"}, Options: []string{"ndots:5"}}
	pc.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	id := pod.PodSandboxId
	if _, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a second pod of the same name: %v, want AlreadyExists", err)
	}
	ps, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || !strings.HasPrefix(ps.Status.Network.GetIp(), strings.TrimSuffix(net.gateway, "1")) {
		t.Fatalf("PodSandboxStatus = %v, %v", ps, err)
	}

	mk := func(name string, args ...string) string {
		t.Helper()
		c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: img},
			Command:  args,
			Envs:     []*runtimeapi.KeyValue{{Key: "WHO", Value: []byte(name)}},
			Labels:   map[string]string{"role": name},
			LogPath:  name + ".log",
		}})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", name, err)
		}
		if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s: %v", name, err)
		}
		return c.ContainerId
	}
	server := mk("server", "sh", "-c", "echo started $WHO; echo hello-from-server > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
	client := mk("client", "sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do echo tick; sleep 0.2; done")

	exec := func(cid string, timeout int64, cmd ...string) *runtimeapi.ExecSyncResponse {
		t.Helper()
		r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cid, Cmd: cmd, Timeout: timeout})
		if err != nil {
			t.Fatalf("ExecSync %v: %v", cmd, err)
		}
		return r
	}
	var out string
	for i := 0; i < 50; i++ {
		r := exec(client, 10, "wget", "-q", "-O", "-", "http://localhost:8080/index.html")
		if out = string(r.Stdout); r.ExitCode == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out != "hello-from-server\n" {
		t.Fatalf("client to server over localhost: %q", out)
	}
	if r := exec(client, 10, "hostname"); string(r.Stdout) != "web\n" {
		t.Errorf("hostname = %q", r.Stdout)
	}
	if r := exec(client, 10, "cat", "/etc/resolv.conf"); !strings.Contains(string(r.Stdout), "nameserver 10.0.0.10") || !strings.Contains(string(r.Stdout), "search test.svc") {
		t.Errorf("resolv.conf = %q", r.Stdout)
	}
	if r := exec(client, 10, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"); string(r.Stdout) != "80\n" {
		t.Errorf("pod sysctl = %q", r.Stdout)
	}
	if r := exec(client, 10, "sh", "-c", "echo out; echo err >&2; exit 3"); r.ExitCode != 3 || string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" {
		t.Errorf("ExecSync = %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	if _, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: client, Cmd: []string{"sleep", "30"}, Timeout: 1}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("ExecSync past its timeout: %v, want DeadlineExceeded", err)
	}

	// filters
	l, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"role": "client"}}})
	if err != nil || len(l.Containers) != 1 || l.Containers[0].Id != client {
		t.Fatalf("ListContainers by label = %v, %v", l, err)
	}
	l, err = e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: id[:12], State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil || len(l.Containers) != 2 {
		t.Fatalf("ListContainers by pod and state = %v, %v", l, err)
	}

	// the kubelet's log rotation: move the file away, reopen
	clientLog := filepath.Join(logDir, "client.log")
	if err := os.Rename(clientLog, clientLog+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: client}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(clientLog); strings.Contains(string(b), " stdout F tick\n") {
			break
		}
		if i > 100 {
			t.Fatal("no record in the reopened log")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := e.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "nosuch"}); status.Code(err) != codes.NotFound {
		t.Fatalf("ReopenContainerLog of an unknown container: %v", err)
	}

	// stop with a timeout: the client's TERM trap runs and exits 0
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: client, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	cs, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: client})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || cs.Status.ExitCode != 0 || cs.Status.FinishedAt == 0 {
		t.Fatalf("ContainerStatus after stop = %v, %v", cs, err)
	}
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: client}); err != nil {
		t.Fatalf("stopping a stopped container: %v", err)
	}
	logData, err := os.ReadFile(filepath.Join(logDir, "client.log"))
	if err != nil || !strings.Contains(string(logData), " stdout F bye\n") {
		t.Fatalf("client log = %q, %v", logData, err)
	}
	logData, _ = os.ReadFile(filepath.Join(logDir, "server.log"))
	if !strings.Contains(string(logData), " stdout F started server\n") {
		t.Fatalf("server log = %q", logData)
	}

	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	ps, err = e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("PodSandboxStatus after stop = %v, %v", ps, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error {
			_, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
			return err
		},
		func() error {
			_, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
			return err
		},
		func() error {
			_, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: server})
			return err
		},
	} {
		if err := f(); err != nil {
			t.Fatalf("stopping or removing what is gone: %v", err)
		}
	}
	if _, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: server}); status.Code(err) != codes.NotFound {
		t.Fatalf("status of a removed container: %v, want NotFound", err)
	}
	if left := criLeftovers(t, e.sv.dir, id, server, client); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if out, _ := exec2("ip", "-o", "link", "show", "master", net.bridge); strings.Contains(out, "veth") {
		t.Fatalf("veth left on %s: %s", net.bridge, out)
	}
}
