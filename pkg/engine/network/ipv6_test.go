package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/network/ipam"
	"github.com/berthd/berth/pkg/errdefs"
)

func TestIPv6Networks(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m := newManager(t, f, root)
	n, err := m.Create(CreateOptions{Name: "v6", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:10::/64")})
	if err != nil {
		t.Fatal(err)
	}
	if !n.IPv6 || n.Gateway6.String() != "fd00:10::1" || !n.Subnet.IsValid() || !n.UserSubnet6 {
		t.Fatalf("network: %+v", n)
	}
	// Picked ULA /64s overlap neither the host's routes nor each other.
	a, err := m.Create(CreateOptions{Name: "auto1", IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create(CreateOptions{Name: "auto2", IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	fd := netip.MustParsePrefix("fd00::/8")
	if a.Subnet6.Bits() != 64 || !fd.Contains(a.Subnet6.Addr()) || a.Subnet6.Overlaps(b.Subnet6) || a.Subnet6.Overlaps(netip.MustParsePrefix("fd00:aaaa::/64")) {
		t.Fatalf("picked %s and %s", a.Subnet6, b.Subnet6)
	}
	// Errors: an overlapping IPv6 subnet, a v6 subnet without --ipv6, a
	// gateway of the other family; nothing is left of them.
	if _, err := m.Create(CreateOptions{Name: "over", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:10::/48")}); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "Pool overlaps") {
		t.Fatalf("overlap: %v", err)
	}
	if _, err := m.Create(CreateOptions{Name: "nov6", Subnet6: netip.MustParsePrefix("fd00:11::/64")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("v6 subnet without --ipv6: %v", err)
	}
	if _, err := m.Create(CreateOptions{Name: "badgw", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:12::/64"), Gateway6: netip.MustParseAddr("fd00:13::1")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("gateway outside: %v", err)
	}
	if len(m.List()) != 6 {
		t.Fatalf("networks after errors: %d", len(m.List()))
	}

	// A container gets an address of each family; --ip6 is honoured.
	p80 := network.MustParsePort("80/tcp")
	hc := &container.HostConfig{NetworkMode: "v6", PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}}
	want := netip.MustParseAddr("fd00:10::42")
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"v6": {IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: want}}}}
	if err := run(t, m, "c1", hc, nc); err != nil {
		t.Fatal(err)
	}
	if err := run(t, m, "c2", &container.HostConfig{NetworkMode: "v6"}, nil); err != nil {
		t.Fatal(err)
	}
	i1, _ := m.Info("c1")
	i2, _ := m.Info("c2")
	if i1.Endpoints[0].Addr6 != want || i1.Endpoints[0].Gateway6.String() != "fd00:10::1" || !n.Subnet6.Contains(i2.Endpoints[0].Addr6) || i2.Endpoints[0].Addr6 == want {
		t.Fatalf("addresses %+v %+v", i1.Endpoints[0], i2.Endpoints[0])
	}
	// The published port is in both families' rules.
	var fams []string
	for _, p := range f.state.Ports {
		if p.HostPort == 8080 {
			fams = append(fams, p.ContainerIP.String())
		}
	}
	if strings.Join(fams, ",") != i1.Endpoints[0].Addr.String()+","+want.String() {
		t.Fatalf("rules for 8080: %v", fams)
	}
	// --ip6 outside the subnet, on a network without IPv6.
	bad := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"v6": {IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: netip.MustParseAddr("fd00:99::5")}}}}
	if err := run(t, m, "c3", &container.HostConfig{NetworkMode: "v6"}, bad); err == nil || !strings.Contains(err.Error(), "no configured subnet contains IP address fd00:99::5") {
		t.Fatalf("--ip6 outside: %v", err)
	}
	nov6 := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"bridge": {IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: want}}}}
	if err := run(t, m, "c4", &container.HostConfig{}, nov6); err == nil || !strings.Contains(err.Error(), "IPv6 is not enabled") {
		t.Fatalf("--ip6 on bridge: %v", err)
	}
	// Publishing on an IPv6 host address needs IPv6 on the network.
	v6port := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostIP: netip.MustParseAddr("fd00:10::1")}}}}
	if err := run(t, m, "c5", v6port, nil); err == nil || !strings.Contains(err.Error(), "has no IPv6") {
		t.Fatalf("v6 host address on bridge: %v", err)
	}
	if f.netns[m.NetNSPath("c5")] {
		t.Fatal("a failed attach left its namespace")
	}
	// Leases of both families go with the container, and are reconciled
	// after a crash.
	m.Forget("c1")
	if l, _ := m.ipam.Leases(ipam.V6(n.ID)); len(l) != 1 {
		t.Fatalf("v6 leases after forget: %v", l)
	}
	m2 := newManager(t, f, root)
	if err := m2.Reconcile(func(id string) bool { return true }, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if l, _ := m2.ipam.Leases(ipam.V6(n.ID)); len(l) != 0 {
		t.Fatalf("v6 leases after reconcile: %v", l)
	}
	m2.Forget("c2")
	for _, name := range []string{"v6", "auto1", "auto2"} {
		if err := m2.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, nw := range f.state.Networks {
		if nw.Subnet6.IsValid() {
			t.Fatalf("IPv6 network left in the rules: %+v", nw)
		}
	}
}

func TestPickULA(t *testing.T) {
	p, ok := pickULA("x", nil)
	q, _ := pickULA("x", []netip.Prefix{p})
	if !ok || p.Bits() != 64 || p.Addr().As16()[0] != 0xfd || p == q || p.Addr().As16()[1] != q.Addr().As16()[1] {
		t.Fatalf("%s %s", p, q)
	}
}
