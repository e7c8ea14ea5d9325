package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/testprereq"
)

// criProc is supervisord with its CRI server run as a process (so that it
// can be SIGKILLed) on the directories of an in-process supervisor.
func criProc(t *testing.T, sv *svEnv, cniDir string, env ...string) (*svProc, runtimeapi.RuntimeServiceClient) {
	t.Helper()
	binDir := os.Getenv("BERTH_BIN_DIR")
	testprereq.Require(t, binDir != "", "BERTH_BIN_DIR (bin/supervisord)")
	sock := filepath.Join(sv.dir, "crip.sock")
	p := &svProc{sock: filepath.Join(sv.dir, "svp.sock"), args: []string{filepath.Join(binDir, "supervisord"),
		"--root", sv.cfg.Root, "--state", sv.cfg.State, "--address", filepath.Join(sv.dir, "svp.sock"),
		"--shim-path", sv.cfg.ShimBinary, "--runtime", "test=" + sv.cfg.Runtimes[0].Path, "--default-runtime", "test",
		"--cri-address", sock, "--cni-conf-dir", cniDir, "--pause-path", pauseBinary(t, sv.dir), "--log-level", "warn"}}
	os.Remove(sock) // a killed server's: wait for the new one's
	p.start(t)
	if len(env) > 0 {
		// start again with the environment (start takes none)
		p.kill9()
		p.cmd = nil
		startWithEnv(t, p, env)
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i > 250 {
			t.Fatal("CRI server does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return p, runtimeapi.NewRuntimeServiceClient(conn)
}

func startWithEnv(t *testing.T, p *svProc, env []string) {
	t.Helper()
	os.Remove(p.sock)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	p.start(t)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		os.Unsetenv(k)
	}
}

// kill -9 of supervisord with 10 pods running: all are intact and listed
// after the restart, with their containers, and a container that exited
// meanwhile reports its exit code; then a crash in the middle of
// RunPodSandbox (after the CNI attachment) leaves nothing once the server
// is back: no record, netns, pod files, veth or IP lease.
func TestCRIKill9With10Pods(t *testing.T) {
	sv := newSvEnv(t, true)
	img := sv.importBusybox(t, namespaces.WithNamespace(criCtx(t), "k8s.io"), "busybox:latest").GetName()
	sv.stop(t)
	e := &criEnv{sv: sv, cniDir: filepath.Join(sv.dir, "net.d")}
	cn := e.writeCNI(t)
	p, rt := criProc(t, sv, e.cniDir)
	t.Cleanup(func() {
		if p.cmd != nil && p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
		sv.start(t) // its cleanup deletes whatever is left
	})
	ctx := criCtx(t)
	var pods, ctrs []string
	for i := 0; i < 10; i++ {
		pc := podConfig(fmt.Sprintf("p%d", i))
		r, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
		if err != nil {
			t.Fatal(err)
		}
		cmd := []string{"sleep", "1000"}
		if i == 0 {
			cmd = []string{"sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done; exit 7"}
		}
		c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: r.PodSandboxId, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: img}, Command: cmd,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
		pods, ctrs = append(pods, r.PodSandboxId), append(ctrs, c.ContainerId)
	}
	if _, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctrs[0], Cmd: []string{"touch", "/go"}, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	p.kill9()
	time.Sleep(500 * time.Millisecond) // container 0 exits meanwhile
	p, rt = criProc(t, sv, e.cniDir)

	l, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil || len(l.Items) != 10 {
		t.Fatalf("ready pods after kill -9 = %v, %v", l, err)
	}
	for i, id := range ctrs {
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		want := runtimeapi.ContainerState_CONTAINER_RUNNING
		if i == 0 {
			want = runtimeapi.ContainerState_CONTAINER_EXITED
			if st.Status.ExitCode != 7 {
				t.Errorf("container that exited meanwhile: exit code %d, want 7", st.Status.ExitCode)
			}
		}
		if st.Status.State != want {
			t.Errorf("container %d: %v, want %v", i, st.Status.State, want)
		}
	}
	if r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctrs[5], Cmd: []string{"hostname"}, Timeout: 10}); err != nil || string(r.Stdout) != "p5\n" {
		t.Fatalf("exec after the restart: %v, %v", r, err)
	}
	for _, id := range pods {
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatal(err)
		}
	}

	// A crash right after the pod's CNI attachment.
	p.kill9()
	p, rt = criProc(t, sv, e.cniDir, "BERTH_FAILPOINT=cri-pod-network-set-up")
	if _, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podConfig("crash")}); err == nil {
		t.Fatal("RunPodSandbox survived its failpoint")
	}
	p.cmd.Wait()
	if ents, _ := os.ReadDir(filepath.Join(sv.cfg.State, "cri", "netns")); len(ents) != 1 {
		t.Fatalf("the crash left %d netns, want the one being made", len(ents))
	}
	p, rt = criProc(t, sv, e.cniDir)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(sv.cfg.State, "cri", "netns"))
		pods, _ := os.ReadDir(filepath.Join(sv.cfg.State, "cri", "pods"))
		leases, _ := filepath.Glob(filepath.Join(sv.dir, "ipam", cn.bridge, "10.*"))
		veths, _ := exec2("ip", "-o", "link", "show", "master", cn.bridge)
		if len(ents) == 0 && len(pods) == 0 && len(leases) == 0 && !strings.Contains(veths, "veth") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: netns %v, pod dirs %v, leases %v, veths %q", ents, pods, leases, veths)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("pods after recovery = %v, %v", l, err)
	}
}
