// Package platforms compares OCI platforms as clients and image configs
// write them: one spelling per platform (Normalize), whether an image's
// platform serves one asked for (Match), which of several serves it best
// (Best), and the os/arch[/variant] text that messages show (Format,
// FormatAll). The engine's --platform checks, the supervisor's import and
// the registry pull all use it, so all answer alike.
package platforms

import (
	"runtime"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Normalize spells a platform one way: clients and image configs write
// some architectures and variants differently (aarch64, x86_64, arm64 v8,
// which is arm64's only variant in practice).
func Normalize(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	if p.Variant != "" && p.Variant[0] >= '0' && p.Variant[0] <= '9' {
		p.Variant = "v" + p.Variant
	}
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "i386":
		p.Architecture = "386"
	case "armhf", "armel":
		p.Architecture = "arm"
	}
	switch {
	case p.Architecture == "amd64" && p.Variant == "v1",
		p.Architecture == "arm64" && (p.Variant == "v8" || p.Variant == "v8.0"):
		p.Variant = ""
	}
	return p
}

// Match tells whether an image of platform have serves want: a want
// without variant (or OS version, or features) takes any; a want with a
// variant takes that variant and the older ones its CPU runs, as
// containerd's matcher does: arm/v7 takes v6 and v5, amd64/v3 takes v2
// and v1.
func Match(want, have ocispec.Platform) bool {
	return rank(Normalize(want), Normalize(have)) >= 0
}

// MatchStrict tells whether have is exactly the platform want names: a
// want with a variant takes that variant only (dockerd's OnlyStrict, for
// an image already here: inspect, rmi, push, save, history, create); a
// want without one still takes any.
func MatchStrict(want, have ocispec.Platform) bool {
	return rank(Normalize(want), Normalize(have)) == 0 || Normalize(want).Variant == "" && Match(want, have)
}

// Best is the index of the platform in have that serves want best, -1 if
// none does (Match). The same variant comes first, then the older variants
// want runs, the newest first (arm/v7 prefers v7, then v6, then v5). A want
// without variant stands for its architecture's baseline (amd64 v1; arm
// v7, as containerd reads it): a platform without variant first, then the
// baseline and older variants, then newer ones, the oldest first. Ties go
// to the earlier platform in have.
func Best(want ocispec.Platform, have []ocispec.Platform) int {
	w := Normalize(want)
	best, bestRank := -1, 0
	for i, h := range have {
		if r := rank(w, Normalize(h)); r >= 0 && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	return best
}

// rank is how well have serves want, both normalized: 0 is the same
// platform, a higher rank a worse match, -1 no match.
func rank(w, h ocispec.Platform) int {
	if w.OS != h.OS || w.Architecture != h.Architecture || w.OSVersion != "" && w.OSVersion != h.OSVersion {
		return -1
	}
	for _, f := range w.OSFeatures {
		if !slices.Contains(h.OSFeatures, f) {
			return -1
		}
	}
	if w.Variant == h.Variant {
		return 0
	}
	wl, wok := level(w)
	hl, hok := level(h)
	switch {
	case wok && hok && hl <= wl:
		return 1 + wl - hl
	case w.Variant != "":
		return -1
	case wok && hok:
		return 1000 + hl - wl
	default:
		return 1000
	}
}

// level is the number of a variant of an architecture whose variants each
// run the older ones' code (amd64 v1 to v4, arm v5 to v8), a platform
// without variant being amd64 v1 or arm v7 (containerd's defaults). Other
// variants (amd64/v9) have none: only the same variant matches them.
func level(p ocispec.Platform) (int, bool) {
	var lo, hi, def int
	switch p.Architecture {
	case "amd64":
		lo, hi, def = 1, 4, 1
	case "arm":
		lo, hi, def = 5, 8, 7
	default:
		return 0, false
	}
	if p.Variant == "" {
		return def, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(p.Variant, "v"))
	return n, err == nil && n >= lo && n <= hi
}

// Format is os/arch, or os/arch/variant.
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// FormatAll is the Format of each of ps, once each, joined by ", " (""
// for none): the platforms an error says are there.
func FormatAll(ps []ocispec.Platform) string {
	var names []string
	for _, p := range ps {
		if n := Format(p); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// Host is the platform of the images berth runs here: linux/GOARCH.
func Host() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// OnHost tells whether p, a platform asked for an image made here (`docker
// import`, a build), is Host: its OS and architecture, where given, must
// match; its variant is not looked at (the image records none).
func OnHost(p ocispec.Platform) bool {
	h := Host()
	w := ocispec.Platform{OS: p.OS, Architecture: p.Architecture}
	if w.OS == "" {
		w.OS = h.OS
	}
	if w.Architecture == "" {
		w.Architecture = h.Architecture
	}
	return Match(w, h)
}

// OfConfig is the platform an image config declares. Configs without one
// (some importers write none) are images made for this host, which is how
// berth runs them.
func OfConfig(cfg *ocispec.Image) ocispec.Platform {
	p := cfg.Platform
	h := Host()
	if p.OS == "" {
		p.OS = h.OS
	}
	if p.Architecture == "" {
		p.Architecture = h.Architecture
	}
	return p
}
