// Package bridge is the netlink plumbing of bridge networks: the bridge
// with its gateway address, and one veth pair per container endpoint, the
// host end on the bridge (hairpin on), the other end moved into the
// container's network namespace with its address, MAC and routes.
package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Bridge is a bridge and its gateway address.
type Bridge struct {
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Subnet6 and Gateway6: the IPv6 pool of an --ipv6 network (zero: none).
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	MTU      int // 0: the kernel's default
}

// Ensure creates the bridge (or takes the existing one), gives it the
// gateway address and brings it up. route_localnet lets connections from
// the host's 127.0.0.1 to published ports leave through it.
func Ensure(b Bridge) error {
	l, err := netlink.LinkByName(b.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", b.Name, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = b.Name
		if b.MTU > 0 {
			attrs.MTU = b.MTU
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("bridge %s: create: %w", b.Name, err)
		}
		if l, err = netlink.LinkByName(b.Name); err != nil {
			return fmt.Errorf("bridge %s: %w", b.Name, err)
		}
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("bridge %s: a link of type %s has that name", b.Name, l.Type())
	}
	addr := &netlink.Addr{IPNet: ipNet(b.Gateway, b.Subnet.Bits())}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("bridge %s: address %s: %w", b.Name, b.Gateway, err)
	}
	if b.Gateway6.IsValid() {
		if err := writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", b.Name, "disable_ipv6"), "0"); err != nil {
			return fmt.Errorf("bridge %s: %w", b.Name, err)
		}
		// No duplicate address detection: the gateway is usable at once.
		a6 := &netlink.Addr{IPNet: ipNet(b.Gateway6, b.Subnet6.Bits()), Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrReplace(l, a6); err != nil {
			return fmt.Errorf("bridge %s: address %s: %w", b.Name, b.Gateway6, err)
		}
		if err := EnableForwarding6(); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge %s: up: %w", b.Name, err)
	}
	if err := writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", b.Name, "route_localnet"), "1"); err != nil {
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	return nil
}

// EnableForwarding6 turns on the host's IPv6 forwarding, as dockerd does
// once an IPv6 network exists (only then: it also stops the host from
// taking router advertisements on interfaces left at accept_ra 1).
func EnableForwarding6() error {
	return writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
}

// EnableForwarding turns on the host's IPv4 forwarding, without which
// nothing leaves a bridge network (dockerd does the same).
func EnableForwarding() error {
	return writeSysctl("/proc/sys/net/ipv4/ip_forward", "1")
}

func writeSysctl(path, v string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == v+"\n" {
		return nil
	}
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", path, err)
	}
	return nil
}

// Delete removes a bridge; a missing one is not an error.
func Delete(name string) error { return DeleteLink(name) }

// DeleteLink removes a link of the host by name (a bridge, or the host end
// of a veth pair, which takes its peer with it); missing is not an error.
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("link %s: delete: %w", name, err)
	}
	return nil
}

// DeleteLinkLater deletes a link in the background: deleting an up veth
// pair waits for the kernel's synchronisations (tens of ms), which would
// otherwise be on the path of every container stop. The link is found by
// name now and deleted by its index, so a link made again under the same
// name meanwhile (a restart) is not the one deleted.
func DeleteLinkLater(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("link %s: %w", name, err)
	}
	go netlink.LinkDel(l) // gone already (its namespace went first): fine
	return nil
}

// Exists reports whether the host has a link of that name.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// ErrNoBridge: the endpoint's bridge is not there (AddEndpoint makes
// nothing then).
var ErrNoBridge = errors.New("no such bridge")

// Endpoint is one container interface on a bridge.
type Endpoint struct {
	Bridge   string
	HostName string // the host end of the pair ("vb" + hash)
	IfName   string // the name inside the container (eth0...)
	NetNS    string // the namespace's path
	Addr     netip.Addr
	Bits     int
	MAC      net.HardwareAddr
	Gateway  netip.Addr // zero: no default route (internal networks)
	// Addr6/Bits6/Gateway6: the IPv6 address on an --ipv6 network.
	Addr6    netip.Addr
	Bits6    int
	Gateway6 netip.Addr
	MTU      int
	// Spare: the host end of a pair made ahead by MakeSpare, whose other
	// end is already in NetNS as IfName (empty: a pair is made now).
	Spare string
}

// AddEndpoint creates the veth pair of e: the host end attached to the
// bridge with hairpin mode (a container may reach its own published ports
// through the host), the other end in the namespace as e.IfName, with the
// address, loopback up and the default route via the gateway. A failure
// removes the pair.
func AddEndpoint(e Endpoint) (err error) {
	br, err := netlink.LinkByName(e.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			err = ErrNoBridge
		}
		return fmt.Errorf("endpoint: bridge %s: %w", e.Bridge, err)
	}
	ns, err := netns.GetFromPath(e.NetNS)
	if err != nil {
		return fmt.Errorf("endpoint: netns %s: %w", e.NetNS, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("endpoint: netns %s: %w", e.NetNS, err)
	}
	defer h.Close()

	mtu := e.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	var in netlink.Link
	if e.Spare != "" {
		in, err = adoptSpare(e, h, br, mtu)
	} else {
		in, err = createPair(e, h, ns, br, mtu)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			DeleteLink(e.HostName)
		}
	}()
	// Loopback is index 1 in every network namespace.
	if err := h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}); err != nil {
		return fmt.Errorf("endpoint: lo up: %w", err)
	}
	if err := h.AddrAdd(in, &netlink.Addr{IPNet: ipNet(e.Addr, e.Bits)}); err != nil {
		return fmt.Errorf("endpoint %s: address %s: %w", e.IfName, e.Addr, err)
	}
	if e.Addr6.IsValid() {
		if err := h.AddrAdd(in, &netlink.Addr{IPNet: ipNet(e.Addr6, e.Bits6), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("endpoint %s: address %s: %w", e.IfName, e.Addr6, err)
		}
	}
	if err := h.LinkSetUp(in); err != nil {
		return fmt.Errorf("endpoint %s: up: %w", e.IfName, err)
	}
	for _, gw := range []netip.Addr{e.Gateway, e.Gateway6} {
		if gw.IsValid() {
			if err := h.RouteAdd(&netlink.Route{LinkIndex: in.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
				return fmt.Errorf("endpoint %s: default route via %s: %w", e.IfName, gw, err)
			}
		}
	}
	return nil
}

// createPair makes the veth pair of e, the host end up on the bridge with
// hairpin, the other end in the namespace; it returns that end.
func createPair(e Endpoint, h *netlink.Handle, ns netns.NsHandle, br netlink.Link, mtu int) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = e.HostName
	attrs.MasterIndex = br.Attrs().Index
	attrs.MTU = mtu
	// Made up: one request fewer than setting it up afterwards.
	attrs.Flags = net.FlagUp
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: e.IfName, PeerNamespace: netlink.NsFd(int(ns)), PeerHardwareAddr: e.MAC, PeerMTU: uint32(mtu)}
	err := netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// The pair of the container's last run, still being deleted in
		// the background (DeleteLinkLater), or left by a crash.
		if err = DeleteLink(e.HostName); err == nil {
			err = netlink.LinkAdd(veth)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: create veth: %w", e.HostName, err)
	}
	// LinkAdd has set the pair's index.
	if err := netlink.LinkSetHairpin(veth, true); err != nil {
		DeleteLink(e.HostName)
		return nil, fmt.Errorf("endpoint %s: hairpin: %w", e.HostName, err)
	}
	in, err := h.LinkByName(e.IfName)
	if err != nil {
		DeleteLink(e.HostName)
		return nil, fmt.Errorf("endpoint %s: %w", e.IfName, err)
	}
	return in, nil
}

// adoptSpare makes a pair made ahead e's: the host end renamed (it is
// down, as a rename needs), its MTU, on the bridge with hairpin and up;
// the other end given e's MAC and MTU.
func adoptSpare(e Endpoint, h *netlink.Handle, br netlink.Link, mtu int) (netlink.Link, error) {
	host, err := netlink.LinkByName(e.Spare)
	if err != nil {
		return nil, fmt.Errorf("endpoint: spare pair %s: %w", e.Spare, err)
	}
	fail := func(what string, err error) (netlink.Link, error) {
		netlink.LinkDel(host)
		return nil, fmt.Errorf("endpoint %s: %s: %w", e.HostName, what, err)
	}
	err = netlink.LinkSetName(host, e.HostName)
	if errors.Is(err, unix.EEXIST) {
		// As in createPair: the pair of the last run, going.
		if err = DeleteLink(e.HostName); err == nil {
			err = netlink.LinkSetName(host, e.HostName)
		}
	}
	if err != nil {
		return fail("rename "+e.Spare, err)
	}
	host.Attrs().Name = e.HostName
	if mtu != host.Attrs().MTU {
		if err := netlink.LinkSetMTU(host, mtu); err != nil {
			return fail("mtu", err)
		}
	}
	if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
		return fail("bridge", err)
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fail("hairpin", err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fail("up", err)
	}
	in, err := h.LinkByName(e.IfName)
	if err != nil {
		return fail(e.IfName, err)
	}
	if err := h.LinkSetHardwareAddr(in, e.MAC); err != nil {
		return fail("mac", err)
	}
	if mtu != in.Attrs().MTU {
		if err := h.LinkSetMTU(in, mtu); err != nil {
			return fail("mtu", err)
		}
	}
	return in, nil
}

// MakeSpare makes a veth pair ahead of its use: hostName on the host
// (down, on no bridge) and ifName in the namespace of ns, so that
// AddEndpoint only renames and configures it (creating a pair is the
// largest step of an attach: 2 to 4 ms here). The pair goes with the
// namespace.
func MakeSpare(ns *os.File, hostName, ifName string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ifName, PeerNamespace: netlink.NsFd(int(ns.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("spare pair %s: %w", hostName, err)
	}
	return nil
}

// RemoveEndpoint deletes an interface inside the namespace at path (a
// network disconnected from a running container); missing is not an error.
func RemoveEndpoint(nsPath, ifName string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil // no namespace, no interface
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("endpoint: netns %s: %w", nsPath, err)
	}
	defer h.Close()
	l, err := h.LinkByName(ifName)
	if err != nil {
		return nil
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("endpoint %s: delete: %w", ifName, err)
	}
	return nil
}

// Routes returns the IPv4 prefixes routed on the host (main table), to
// choose default subnets that do not collide with them.
func Routes() ([]netip.Prefix, error) { return routes(netlink.FAMILY_V4) }

// Addr is the first IPv4 address (with its prefix length) of the bridge
// name; ok is false when there is no such bridge or it has none.
func Addr(name string) (a netip.Prefix, ok bool) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return netip.Prefix{}, false
	}
	if _, isBridge := l.(*netlink.Bridge); !isBridge {
		return netip.Prefix{}, false
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := addrs[0].Mask.Size()
	return netip.PrefixFrom(ip, bits), true
}

// ErrNoIPv6 is returned by Routes6 on a host whose kernel has IPv6 off
// (ipv6.disable=1, or no IPv6 at all).
var ErrNoIPv6 = errors.New("IPv6 is disabled on this host")

// Routes6 is Routes for IPv6; it fails with ErrNoIPv6 when the host has no
// IPv6, so that an --ipv6 network is refused at create.
func Routes6() ([]netip.Prefix, error) {
	if _, err := os.Stat("/proc/sys/net/ipv6/conf/all/disable_ipv6"); err != nil {
		return nil, fmt.Errorf("%w (no /proc/sys/net/ipv6)", ErrNoIPv6)
	}
	return routes(netlink.FAMILY_V6)
}

func routes(family int) ([]netip.Prefix, error) {
	rs, err := netlink.RouteList(nil, family)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range rs {
		if r.Dst == nil {
			continue // the default route collides with nothing
		}
		ip := r.Dst.IP
		if family == netlink.FAMILY_V4 {
			ip = ip.To4()
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		if bits == 0 || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue // a default route, as above; fe80::/64 and ff00::/8 are on every link
		}
		out = append(out, netip.PrefixFrom(a, bits).Masked())
	}
	return out, nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}
