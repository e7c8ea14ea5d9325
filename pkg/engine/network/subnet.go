package network

import (
	"net/netip"
)

// defaultPools are where subnets come from when none is given, as dockerd's
// defaults: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
func defaultPools() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	return out
}

// pickSubnet returns the first default pool that overlaps none of used
// (the host's routes and the other networks' subnets).
func pickSubnet(used []netip.Prefix) (netip.Prefix, bool) {
	for _, p := range defaultPools() {
		free := true
		for _, u := range used {
			if p.Overlaps(u) {
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
