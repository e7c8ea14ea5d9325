package network

import (
	"io"
	"net/netip"
	"os"

	"github.com/berthd/berth/pkg/engine/network/bridge"
	"github.com/berthd/berth/pkg/engine/network/dns"
	"github.com/berthd/berth/pkg/engine/network/nft"
	"github.com/berthd/berth/pkg/netns"
)

// Plumbing is what the manager does to the host: bridges, veth pairs,
// namespaces and the nftables table. Host implements it; unit tests use a
// fake that records the calls.
type Plumbing interface {
	EnsureBridge(b bridge.Bridge) error
	DeleteLink(name string) error
	// DeleteLinkLater deletes a link in the background (a container's
	// veth at its stop).
	DeleteLinkLater(name string) error
	LinkExists(name string) bool
	AddEndpoint(e bridge.Endpoint) error
	RemoveEndpoint(nsPath, ifName string) error
	CreateNetNS(path string, sysctls map[string]string) error
	// NewNetNS makes a namespace held by the returned file only;
	// HoldNetNS binds it to a path.
	NewNetNS(sysctls map[string]string) (*os.File, error)
	HoldNetNS(f *os.File, path string) error
	// MakeSpare makes a veth pair ahead of use: hostName on the host,
	// ifName in the namespace of ns.
	MakeSpare(ns *os.File, hostName, ifName string) error
	RemoveNetNS(path string) error
	ListNetNS(dir string) ([]string, error)
	ApplyRules(table string, s nft.State) error
	Routes() ([]netip.Prefix, error)
	Routes6() ([]netip.Prefix, error)
	// BridgeAddr is the IPv4 address, with its prefix length, that a
	// bridge of that name has already (ok false: no such bridge, or none).
	BridgeAddr(name string) (netip.Prefix, bool)
	EnableForwarding() error
	HoldPort(proto string, ip netip.Addr, port uint16) (io.Closer, error)
	StartDNS(nsPath string, names dns.Names, upstreams []string) (io.Closer, error)
}

// Host is the real Plumbing: netlink, nsfs bind mounts, nftables.
type Host struct{}

func (Host) EnsureBridge(b bridge.Bridge) error              { return bridge.Ensure(b) }
func (Host) DeleteLink(name string) error                    { return bridge.DeleteLink(name) }
func (Host) DeleteLinkLater(name string) error               { return bridge.DeleteLinkLater(name) }
func (Host) LinkExists(name string) bool                     { return bridge.Exists(name) }
func (Host) AddEndpoint(e bridge.Endpoint) error             { return bridge.AddEndpoint(e) }
func (Host) RemoveEndpoint(nsPath, ifName string) error      { return bridge.RemoveEndpoint(nsPath, ifName) }
func (Host) CreateNetNS(p string, s map[string]string) error { return netns.Create(p, s) }
func (Host) RemoveNetNS(path string) error                   { return netns.Remove(path) }
func (Host) NewNetNS(s map[string]string) (*os.File, error)  { return netns.New(s) }
func (Host) HoldNetNS(f *os.File, path string) error         { return netns.Hold(f, path) }
func (Host) MakeSpare(ns *os.File, h, i string) error        { return bridge.MakeSpare(ns, h, i) }
func (Host) ListNetNS(dir string) ([]string, error)          { return netns.List(dir) }
func (Host) ApplyRules(table string, s nft.State) error      { return nft.Apply(table, s) }
func (Host) Routes() ([]netip.Prefix, error)                 { return bridge.Routes() }
func (Host) Routes6() ([]netip.Prefix, error)                { return bridge.Routes6() }
func (Host) BridgeAddr(name string) (netip.Prefix, bool)     { return bridge.Addr(name) }
func (Host) EnableForwarding() error                         { return bridge.EnableForwarding() }
func (Host) HoldPort(p string, ip netip.Addr, n uint16) (io.Closer, error) {
	return holdPort(p, ip, n)
}
func (Host) StartDNS(nsPath string, l dns.Names, up []string) (io.Closer, error) {
	s, err := dns.Start(nsPath, l, up)
	if err != nil {
		return nil, err
	}
	return closer{s}, nil
}

type closer struct{ s *dns.Server }

func (c closer) Close() error { c.s.Close(); return nil }
