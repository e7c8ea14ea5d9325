package cri

import (
	"net/netip"
	"strings"
)

// The node's pod CIDR (UpdateRuntimeConfig) is given to the CNI plugins
// as the ipRanges capability, CNI's convention for it: host-local, the
// IPAM of a plugin that declares "capabilities": {"ipRanges": true},
// then takes the pod's address from it instead of its own "ranges".
// Plugins that do not declare it keep their configured ranges.

// ipRanges is the capability's value: one range set per address family;
// nil when there is no pod CIDR.
func ipRanges(cidr string) [][]map[string]string {
	v4, v6, err := parseCIDRs(cidr)
	if cidr == "" || err != nil {
		return nil
	}
	var out [][]map[string]string
	for _, p := range []netip.Prefix{v4, v6} {
		if p.IsValid() {
			out = append(out, []map[string]string{{"subnet": p.Masked().String()}})
		}
	}
	return out
}

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
