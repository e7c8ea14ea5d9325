package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/testprereq"
)

// pauseBinary is $BERTH_BIN_DIR/pause, else one built into dir.
func pauseBinary(t *testing.T, dir string) string {
	t.Helper()
	if d := os.Getenv("BERTH_BIN_DIR"); d != "" {
		if p, err := filepath.Abs(filepath.Join(d, "pause")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	path := filepath.Join(dir, "pause")
	cmd := exec.Command("go", "build", "-o", path, "github.com/berthd/berth/cmd/pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, out)
	}
	return path
}

// criNet is a CNI bridge network of a test: a unique bridge and subnet,
// leases kept in the test's directory.
type criNet struct {
	bridge, subnet, gateway string
}

// writeCNI writes a conflist of the bridge, host-local, portmap and
// loopback plugins Debian ships (loopback go-cni adds itself) for subnet
// 10.<n>.<m>.0/24; the bridge is removed at the end of the test.
func (e *criEnv) writeCNI(t *testing.T) criNet {
	t.Helper()
	testprereq.Require(t, fileExists("/usr/lib/cni/bridge") && fileExists("/usr/lib/cni/portmap"), "CNI plugins in /usr/lib/cni (Debian containernetworking-plugins)")
	n := os.Getpid()%200 + 20
	m := int(uniqueSeq()) % 250
	net := criNet{
		bridge:  fmt.Sprintf("bcri%d-%d", os.Getpid()%10000, m),
		subnet:  fmt.Sprintf("10.%d.%d.0/24", n, m),
		gateway: fmt.Sprintf("10.%d.%d.1", n, m),
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "%s",
  "plugins": [
    {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "%s", "gateway": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`, net.bridge, net.bridge, filepath.Join(e.sv.dir, "ipam"), net.subnet, net.gateway)
	if err := os.MkdirAll(e.cniDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.cniDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", net.bridge).Run() })
	return net
}

var seq uint32

func uniqueSeq() uint32 { seq++; return seq + uint32(os.Getpid()) }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// criBusybox puts the test busybox image into the k8s.io namespace and
// returns its name.
func (e *criEnv) criBusybox(t *testing.T) string {
	t.Helper()
	return e.sv.importBusybox(t, namespaces.WithNamespace(criCtx(t), "k8s.io"), "busybox:latest").GetName()
}

func podConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "test", Uid: name + "-uid"},
		Hostname: name,
		Labels:   map[string]string{"app": name},
		Linux:    &runtimeapi.LinuxPodSandboxConfig{},
	}
}

// criLeftovers lists the mounts, netns files and cgroups under dir or of
// the test's pods that are still there.
func criLeftovers(t *testing.T, dir string, ids ...string) []string {
	t.Helper()
	var left []string
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, dir+"/cri") {
			left = append(left, "mount: "+l)
		}
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		for _, c := range []string{"memory", "pids", "cpu"} {
			p := filepath.Join("/sys/fs/cgroup", c)
			filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() && strings.Contains(path, id) {
					left = append(left, "cgroup: "+path)
				}
				return nil
			})
		}
		if _, err := os.Stat(filepath.Join(dir, "cri", "netns", id)); err == nil {
			left = append(left, "netns file: "+id)
		}
	}
	return left
}

func exec2(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// ctxK8s is a context in the CRI's supervisor namespace.
func ctxK8s(t *testing.T) context.Context {
	return namespaces.WithNamespace(criCtx(t), "k8s.io")
}
