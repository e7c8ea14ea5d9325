package oci

import (
	"maps"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container with a network namespace of its own gets dockerd's two
// network sysctls (unprivileged ports and ping), the ping one not in a
// user namespace; the host's network, another container's, or a kernel
// without them gets none; the user's sysctls win and the stored
// HostConfig's map is not changed. Init leaves out those the engine's
// namespace the container joins already has.
func TestDefaultSysctls(t *testing.T) {
	exists := map[string]bool{"net.ipv4.ping_group_range": true, "net.ipv4.ip_unprivileged_port_start": true}
	inUserNS := false
	oldExists, oldUserNS := sysctlExists, runningInUserNS
	sysctlExists = func(name string) bool { return exists[name] }
	runningInUserNS = func() bool { return inUserNS }
	t.Cleanup(func() { sysctlExists, runningInUserNS = oldExists, oldUserNS })

	both := map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	ports := map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	peer := func(string) (*Peer, error) { return &Peer{Pid: 1}, nil }
	var nsHas map[string]string
	spec := func(hc *container.HostConfig, remap bool) map[string]string {
		t.Helper()
		o := Options{ID: "abc", Config: &container.Config{Cmd: []string{"sh"}}, Host: hc, Peer: peer, NetNSPath: "/run/netns/abc", NetNSSysctls: nsHas}
		if remap {
			o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			o.GIDMappings = o.UIDMappings
		}
		s, err := Spec(o)
		if err != nil {
			t.Fatal(err)
		}
		return s.Linux.Sysctl
	}
	for _, tc := range []struct {
		name  string
		hc    container.HostConfig
		remap bool
		want  map[string]string
	}{
		{"default network", container.HostConfig{}, false, both},
		{"bridge", container.HostConfig{NetworkMode: "bridge"}, false, both},
		{"user network", container.HostConfig{NetworkMode: "mynet"}, false, both},
		{"none", container.HostConfig{NetworkMode: "none"}, false, both},
		{"host", container.HostConfig{NetworkMode: "host"}, false, nil},
		{"another container's", container.HostConfig{NetworkMode: "container:web"}, false, nil},
		{"userns-remap", container.HostConfig{}, true, ports},
		{"userns-remap, --userns host", container.HostConfig{UsernsMode: "host"}, true, both},
		{"the user's win", container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"}}, false,
			map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"}},
		{"the user's on the host's network", container.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"kernel.shmmax": "1"}}, false,
			map[string]string{"kernel.shmmax": "1"}},
	} {
		hc := tc.hc
		before := maps.Clone(hc.Sysctls)
		if got := spec(&hc, tc.remap); !maps.Equal(got, tc.want) {
			t.Errorf("%s: sysctls %v, want %v", tc.name, got, tc.want)
		}
		if !maps.Equal(hc.Sysctls, before) {
			t.Errorf("%s: the HostConfig's sysctls changed to %v", tc.name, hc.Sysctls)
		}
	}

	// The engine's namespace has them: only what it lacks is left to init.
	for _, tc := range []struct {
		name  string
		hc    container.HostConfig
		remap bool
		has   map[string]string
		want  map[string]string
	}{
		{"bridge", container.HostConfig{}, false, both, nil},
		{"none: a namespace of its own", container.HostConfig{NetworkMode: "none"}, false, both, both},
		{"userns-remap", container.HostConfig{}, true, ports, nil},
		{"userns-remap, --userns host", container.HostConfig{UsernsMode: "host"}, true, ports, map[string]string{"net.ipv4.ping_group_range": "0 2147483647"}},
		{"the user's", container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}}, false, both, map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}},
		{"the user's, the namespace's value, userns-remap", container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}}, true, ports, nil},
	} {
		nsHas = tc.has
		hc := tc.hc
		if got := spec(&hc, tc.remap); !maps.Equal(got, tc.want) {
			t.Errorf("engine's namespace, %s: sysctls %v, want %v", tc.name, got, tc.want)
		}
	}
	nsHas = nil

	if got := NetworkSysctls(false); !maps.Equal(got, both) {
		t.Errorf("NetworkSysctls(false) = %v", got)
	}
	if got := NetworkSysctls(true); !maps.Equal(got, ports) {
		t.Errorf("NetworkSysctls(true) = %v", got)
	}
	inUserNS = true
	if got := spec(&container.HostConfig{}, false); !maps.Equal(got, ports) {
		t.Errorf("engine in a user namespace: %v, want %v", got, ports)
	}
	inUserNS = false
	exists = map[string]bool{}
	if got := spec(&container.HostConfig{}, false); got != nil {
		t.Errorf("a kernel without them: %v", got)
	}
}
