package cri

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestCommand(t *testing.T) {
	img := &ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"c1"}}
	for _, tc := range []struct {
		cmd, args, want []string
	}{
		{nil, nil, []string{"/ep", "c1"}},
		{nil, []string{"a"}, []string{"/ep", "a"}},
		{[]string{"x"}, nil, []string{"x"}}, // command drops the image's cmd
		{[]string{"x"}, []string{"a"}, []string{"x", "a"}},
	} {
		got, err := command(&runtimeapi.ContainerConfig{Command: tc.cmd, Args: tc.args}, img)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("command(%v, %v) = %v, %v; want %v", tc.cmd, tc.args, got, err, tc.want)
		}
	}
	if _, err := command(&runtimeapi.ContainerConfig{}, &ocispec.ImageConfig{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("no command at all: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	c, err := capabilities(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{
		DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"net_bind_service", "CAP_CHOWN"}}})
	if err != nil || !slices.Equal(c.Bounding, []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}) {
		t.Fatalf("drop ALL add two = %v, %v", c, err)
	}
	c, err = capabilities(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"KILL"}}})
	if err != nil || slices.Contains(c.Bounding, "CAP_KILL") || !slices.Contains(c.Bounding, "CAP_CHOWN") {
		t.Fatalf("drop KILL = %v, %v", c, err)
	}
	if _, err := capabilities(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"BOGUS"}}}); err == nil || !strings.Contains(err.Error(), "add_capabilities") {
		t.Fatalf("an unknown capability: %v", err)
	}
}

func TestCgroupsPath(t *testing.T) {
	for parent, want := range map[string]string{"": "berth-cri/id", "/kubepods/pod1": "/kubepods/pod1/id", "kubepods/pod2": "/kubepods/pod2/id", "/": "berth-cri/id"} {
		if got, err := cgroupsPath(parent, "id"); err != nil || got != want {
			t.Errorf("cgroupsPath(%q) = %q, %v; want %q", parent, got, err, want)
		}
	}
	for _, bad := range []string{"/a/../..", "system.slice:x:y"} {
		if _, err := cgroupsPath(bad, "id"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("cgroupsPath(%q): %v, want InvalidArgument", bad, err)
		}
	}
}

func TestPodFiles(t *testing.T) {
	cfg := &runtimeapi.PodSandboxConfig{Hostname: "web", DnsConfig: &runtimeapi.DNSConfig{
		Servers: []string{"10.0.0.10"}, Searches: []string{"a.svc", "svc"}, Options: []string{"ndots:5"}}}
	hn, hosts, resolv, err := podFiles(cfg, []byte("host hosts"), []byte("host resolv"))
	if err != nil || string(hn) != "web\n" || !strings.Contains(string(hosts), "web") ||
		string(resolv) != "search a.svc svc\nnameserver 10.0.0.10\noptions ndots:5\n" {
		t.Fatalf("podFiles = %q %q %q %v", hn, hosts, resolv, err)
	}
	_, _, resolv, _ = podFiles(&runtimeapi.PodSandboxConfig{}, nil, []byte("host resolv"))
	if string(resolv) != "host resolv" {
		t.Fatalf("no dns config: resolv.conf %q, want the host's", resolv)
	}
}

func TestValidateSandbox(t *testing.T) {
	md := &runtimeapi.PodSandboxMetadata{Name: "n", Namespace: "ns", Uid: "u"}
	for field, cfg := range map[string]*runtimeapi.PodSandboxConfig{
		"metadata": {},
		"namespace_options.pid": {Metadata: md, Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET}}}},
		"run_as_group": {Metadata: md, Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			RunAsGroup: &runtimeapi.Int64Value{Value: 1}}}},
		"windows": {Metadata: md, Windows: &runtimeapi.WindowsPodSandboxConfig{}},
	} {
		if err := validateSandbox(cfg); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an error naming it", field, err)
		}
	}
	if err := validateSandbox(&runtimeapi.PodSandboxConfig{Metadata: md}); err != nil {
		t.Fatal(err)
	}
}

func TestStopSignal(t *testing.T) {
	if s := stopSignalNumber(runtimeapi.Signal_SIGNAL_SIGQUIT); s != syscall.SIGQUIT {
		t.Fatalf("SIGQUIT = %v", s)
	}
}
