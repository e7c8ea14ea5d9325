// Package platforms compares OCI platforms as clients and image configs
// write them: one spelling per platform (Normalize), whether an image's
// platform serves one asked for (Match), and the os/arch[/variant] text
// that messages show (Format). The engine's --platform checks and the
// supervisor's import both use it, so both answer alike.
package platforms

import (
	"runtime"
	"slices"
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
// without variant (or OS version, or features) takes any.
func Match(want, have ocispec.Platform) bool {
	w, h := Normalize(want), Normalize(have)
	if w.OS != h.OS || w.Architecture != h.Architecture {
		return false
	}
	if w.Variant != "" && w.Variant != h.Variant || w.OSVersion != "" && w.OSVersion != h.OSVersion {
		return false
	}
	for _, f := range w.OSFeatures {
		if !slices.Contains(h.OSFeatures, f) {
			return false
		}
	}
	return true
}

// Format is os/arch, or os/arch/variant.
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// OfConfig is the platform an image config declares. Configs without one
// (some importers write none) are images made for this host, which is how
// berth runs them.
func OfConfig(cfg *ocispec.Image) ocispec.Platform {
	p := cfg.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = runtime.GOARCH
	}
	return p
}
