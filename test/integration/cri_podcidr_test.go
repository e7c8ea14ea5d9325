package integration

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The pod CIDR of UpdateRuntimeConfig is where pods get their addresses
// when the CNI configuration takes the ipRanges capability, not the
// configuration's own range.
func TestCRIPodCIDR(t *testing.T) {
	e := newCRIEnv(t, true)
	net := e.writeCNI(t)
	p := filepath.Join(e.cniDir, "10-test.conflist")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(b), `{"type": "bridge",`, `{"type": "bridge", "capabilities": {"ipRanges": true},`, 1)
	// host-local adds its own ranges to the capability's: none here
	conf = strings.Replace(conf, fmt.Sprintf(`"ranges": [[{"subnet": "%s", "gateway": "%s"}]], `, net.subnet, net.gateway), "", 1)
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := criCtx(t)
	podIP := func(name string) netip.Addr {
		t.Helper()
		pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podConfig(name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		})
		st, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId})
		if err != nil {
			t.Fatal(err)
		}
		a, err := netip.ParseAddr(st.Status.GetNetwork().GetIp())
		if err != nil {
			t.Fatalf("pod %s has no IP: %v", name, err)
		}
		return a
	}
	cidr := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 230+os.Getpid()%20, uniqueSeq()%250))
	if _, err := e.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
		NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr.String()}}}); err != nil {
		t.Fatal(err)
	}
	if a := podIP("after"); !cidr.Contains(a) {
		t.Errorf("after UpdateRuntimeConfig: %s is not in the pod CIDR %s (configured: %s)", a, cidr, net.subnet)
	}
}
