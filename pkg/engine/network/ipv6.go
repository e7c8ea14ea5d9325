package network

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/berthd/berth/pkg/engine/network/bridge"
	"github.com/berthd/berth/pkg/errdefs"
)

// ipv6Locked sets up a new network's IPv6 pool (--ipv6): the subnet
// given, or a unique local /64 (RFC 4193: fd00::/8, a 40-bit global ID,
// then a 16-bit subnet ID) that overlaps no other network and no route of
// the host. The global ID comes from the network's ID, so it is random as
// the RFC asks and the same after a restart.
func (m *Manager) ipv6Locked(n *Network, o CreateOptions) error {
	if !o.IPv6 {
		if o.Subnet6.IsValid() {
			return invalidf("invalid network config: IPv6 subnet %s given but IPv6 is not enabled (--ipv6)", o.Subnet6)
		}
		return nil
	}
	n.IPv6, n.IPRange6, n.Gateway6 = true, o.IPRange6, o.Gateway6
	used, err := m.plumb.Routes6()
	if errors.Is(err, bridge.ErrNoIPv6) {
		return &errorMsg{msg: err.Error(), class: errdefs.ErrFailedPrecondition}
	}
	if err != nil {
		return err
	}
	for _, other := range m.networks {
		if other.Subnet6.IsValid() {
			used = append(used, other.Subnet6)
		}
	}
	if o.Subnet6.IsValid() {
		n.Subnet6, n.UserSubnet6 = o.Subnet6.Masked(), true
		for _, other := range m.networks {
			if other.Subnet6.IsValid() && other.Subnet6.Overlaps(n.Subnet6) {
				return &errorMsg{msg: "invalid pool request: Pool overlaps with other one on this address space", class: errdefs.ErrConflict}
			}
		}
	} else {
		if o.IPRange6.IsValid() || o.Gateway6.IsValid() {
			return invalidf("invalid pool request: an IPv6 ip-range or gateway needs an IPv6 subnet (--subnet)")
		}
		p, ok := pickULA(n.ID, used)
		if !ok {
			return &errorMsg{msg: "could not find an available, non-overlapping IPv6 address pool to assign to the network", class: errdefs.ErrFailedPrecondition}
		}
		n.Subnet6 = p
	}
	if !n.Gateway6.IsValid() {
		n.Gateway6 = n.Subnet6.Addr().Next()
	}
	return n.pool6().Validate()
}

// pickULA returns fdGG:GGGG:GGGG:SSSS::/64 with the global ID from seed
// and the first subnet ID whose prefix overlaps nothing in used.
func pickULA(seed string, used []netip.Prefix) (netip.Prefix, bool) {
	h := sha256.Sum256([]byte("ula/" + seed))
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:6], h[:5])
	start := binary.BigEndian.Uint16(h[5:7])
	for i := 0; i < 1<<16; i++ {
		binary.BigEndian.PutUint16(a[6:8], start+uint16(i))
		p := netip.PrefixFrom(netip.AddrFrom16(a), 64)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
