package oci

import (
	"slices"
	"strings"

	"github.com/berthd/berth/pkg/runtime/caps"
)

// normalizeCap turns "chown", "CHOWN" or "cap_chown" into "CAP_CHOWN";
// "ALL" stays "ALL".
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" {
		return c
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// Capabilities computes the set as dockerd does: ALL in add gives every
// capability the host has but the drops; ALL in drop gives only the adds;
// otherwise the drops leave the base set, then the adds join it (so an
// add wins over a drop of the same name). Unknown names are refused with
// dockerd's message. hostCaps is what the engine's host can grant.
func Capabilities(base, add, drop, hostCaps []string) ([]string, error) {
	known := caps.Names()
	norm := func(field string, l []string) ([]string, error) {
		var out []string
		for _, c := range l {
			n := normalizeCap(c)
			if n != "ALL" && !slices.Contains(known, n) {
				return nil, invalid(field, "unknown capability: %q", n)
			}
			out = append(out, n)
		}
		return out, nil
	}
	adds, err := norm("HostConfig.CapAdd", add)
	if err != nil {
		return nil, err
	}
	drops, err := norm("HostConfig.CapDrop", drop)
	if err != nil {
		return nil, err
	}
	var set []string
	switch {
	case slices.Contains(adds, "ALL"):
		for _, c := range hostCaps {
			if !slices.Contains(drops, c) {
				set = append(set, c)
			}
		}
	case slices.Contains(drops, "ALL"):
		set = adds
	default:
		for _, c := range base {
			if !slices.Contains(drops, c) {
				set = append(set, c)
			}
		}
		set = append(set, adds...)
	}
	var out []string
	for _, c := range set {
		if c != "ALL" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
