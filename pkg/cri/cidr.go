package cri

import (
	"net/netip"
	"strings"
)

// parseCIDRs reads a pod CIDR as the kubelet sends it: one prefix, or an
// IPv4 and an IPv6 one separated by a comma (dual stack).
func parseCIDRs(s string) (v4, v6 netip.Prefix, err error) {
	for _, p := range strings.Split(s, ",") {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return v4, v6, err
		}
		if pfx.Addr().Is4() {
			v4 = pfx
		} else {
			v6 = pfx
		}
	}
	return v4, v6, nil
}
