package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// TestNames: the embedded DNS answers names, aliases, short IDs and
// hostnames of the containers on the asker's user networks, both
// families, and PTR as NAME.NETWORK; nothing of other networks.
func TestNames(t *testing.T) {
	f := newFake()
	m := newManager(t, f, t.TempDir())
	if _, err := m.Create(CreateOptions{Name: "app", Subnet: netip.MustParsePrefix("10.20.0.0/24"), IPv6: true, Subnet6: netip.MustParsePrefix("fd00:20::/64")}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(CreateOptions{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	start := func(id, name, hostname, net string, aliases ...string) {
		t.Helper()
		nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{net: {Aliases: aliases}}}
		if err := prepare(m, id, "/"+name, &container.Config{Hostname: hostname}, &container.HostConfig{NetworkMode: container.NetworkMode(net)}, nc); err != nil {
			t.Fatal(err)
		}
		if err := m.Attach(id); err != nil {
			t.Fatal(err)
		}
	}
	start("aaaaaaaaaaaaaaaa1", "web", "www.example", "app", "front")
	if err := prepare(m, "bbbbbbbbbbbbbbbb2", "/client", &container.Config{}, &container.HostConfig{NetworkMode: "app", Links: []string{"web:db"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach("bbbbbbbbbbbbbbbb2"); err != nil {
		t.Fatal(err)
	}
	start("cccccccccccccccc3", "stranger", "", "other")
	web, _ := m.Info("aaaaaaaaaaaaaaaa1")
	ep := web.Endpoints[0]
	if strings.Join(ep.DNSNames, ",") != "web,front,aaaaaaaaaaaa,www.example" {
		t.Fatalf("DNSNames %v", ep.DNSNames)
	}
	names := containerNames{m: m, id: "bbbbbbbbbbbbbbbb2"}
	for _, q := range []string{"web", "FRONT", "aaaaaaaaaaaa", "www.example", "db"} {
		got := names.Lookup(q)
		if len(got) != 2 || got[0] != ep.Addr || got[1] != ep.Addr6 {
			t.Errorf("%s: %v", q, got)
		}
	}
	// The link's alias is the linking container's only.
	if got := (containerNames{m: m, id: "aaaaaaaaaaaaaaaa1"}).Lookup("db"); got != nil {
		t.Errorf("another container resolved the link alias: %v", got)
	}
	if got := names.Lookup("stranger"); got != nil {
		t.Errorf("a container of another network: %v", got)
	}
	for _, a := range []netip.Addr{ep.Addr, ep.Addr6} {
		if got := names.Reverse(a); len(got) != 1 || got[0] != "web.app" {
			t.Errorf("PTR %s: %v", a, got)
		}
	}
	st, _ := m.Info("cccccccccccccccc3")
	if got := names.Reverse(st.Endpoints[0].Addr); got != nil {
		t.Errorf("PTR of another network's container: %v", got)
	}
}
