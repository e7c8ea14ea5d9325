package platforms

import (
	"runtime"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func p(os, arch, variant string) ocispec.Platform {
	return ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		want, have ocispec.Platform
		match      bool
	}{
		{p("linux", "amd64", ""), p("linux", "amd64", ""), true},
		{p("linux", "x86_64", ""), p("linux", "amd64", ""), true},
		{p("Linux", "aarch64", ""), p("linux", "arm64", "v8"), true},
		{p("linux", "arm64", "8"), p("linux", "arm64", ""), true},
		{p("linux", "arm", ""), p("linux", "arm", "v7"), true},
		{p("linux", "arm", "v6"), p("linux", "arm", "v7"), false},
		// A variant runs the older ones' images, as containerd's matcher has it.
		{p("linux", "arm", "v7"), p("linux", "arm", "v6"), true},
		{p("linux", "arm", "v7"), p("linux", "arm", "v5"), true},
		{p("linux", "arm", "v7"), p("linux", "arm", ""), true}, // arm without variant is v7
		{p("linux", "arm", "v6"), p("linux", "arm", ""), false},
		{p("linux", "amd64", "v3"), p("linux", "amd64", "v2"), true},
		{p("linux", "amd64", "v2"), p("linux", "amd64", ""), true},
		{p("linux", "amd64", "v2"), p("linux", "amd64", "v3"), false},
		{p("linux", "amd64", "v9"), p("linux", "amd64", ""), false}, // no such variant
		{p("linux", "arm", "v9"), p("linux", "arm", "v7"), false},
		{p("linux", "arm", "v7"), p("linux", "arm", "v4"), false},
		{p("linux", "arm64", "v8"), p("linux", "arm", "v7"), false},
		{p("linux", "amd64", ""), p("linux", "s390x", ""), false},
		{p("windows", "amd64", ""), p("linux", "amd64", ""), false},
		{ocispec.Platform{OS: "linux", Architecture: "amd64", OSVersion: "1"}, p("linux", "amd64", ""), false},
		{ocispec.Platform{OS: "linux", Architecture: "amd64", OSFeatures: []string{"f"}}, ocispec.Platform{OS: "linux", Architecture: "amd64", OSFeatures: []string{"g", "f"}}, true},
		{ocispec.Platform{OS: "linux", Architecture: "amd64", OSFeatures: []string{"f"}}, p("linux", "amd64", ""), false},
	} {
		if got := Match(c.want, c.have); got != c.match {
			t.Errorf("Match(%+v, %+v) = %v", c.want, c.have, got)
		}
	}
	if s := Format(p("linux", "arm", "v7")); s != "linux/arm/v7" {
		t.Errorf("Format: %s", s)
	}
}

// Best picks what a pull of an index picks: the same variant, else the
// closest older one; for a want without variant the one without, else
// the architecture's baseline and below, else the oldest newer one.
func TestBest(t *testing.T) {
	arm := func(v string) ocispec.Platform { return p("linux", "arm", v) }
	amd := func(v string) ocispec.Platform { return p("linux", "amd64", v) }
	for _, c := range []struct {
		want ocispec.Platform
		have []ocispec.Platform
		best int
	}{
		{p("linux", "x86_64", ""), []ocispec.Platform{p("linux", "arm64", "v8"), amd("")}, 1},
		{p("linux", "arm64", ""), []ocispec.Platform{amd(""), p("linux", "arm64", "v8")}, 1},
		{p("linux", "arm64", "v8"), []ocispec.Platform{amd(""), p("linux", "arm64", "")}, 1},
		{p("linux", "aarch64", ""), []ocispec.Platform{arm("v7"), p("linux", "arm64", "v8")}, 1},
		{arm("v7"), []ocispec.Platform{arm("v5"), arm("v7"), arm("v6")}, 1},
		{arm("v7"), []ocispec.Platform{arm("v5"), arm("v6"), arm("v8")}, 1},
		{arm("v6"), []ocispec.Platform{arm("v7"), arm("v8")}, -1},
		{arm(""), []ocispec.Platform{arm("v5"), arm("v6"), arm("v7"), arm("v8")}, 2},
		{arm(""), []ocispec.Platform{arm("v8"), arm("v5")}, 1},
		{arm(""), []ocispec.Platform{arm("v7"), arm("")}, 1},
		{amd(""), []ocispec.Platform{amd("v3"), amd(""), amd("v2")}, 1},
		{amd(""), []ocispec.Platform{amd("v3"), amd("v2")}, 1},
		{amd("v3"), []ocispec.Platform{amd(""), amd("v2"), amd("v4")}, 1},
		{p("linux", "s390x", ""), []ocispec.Platform{amd(""), arm("v7")}, -1},
		{amd(""), nil, -1},
		{p("linux", "riscv64", ""), []ocispec.Platform{p("linux", "riscv64", "rva22"), p("linux", "riscv64", "rva20")}, 0},
	} {
		if got := Best(c.want, c.have); got != c.best {
			t.Errorf("Best(%s, %v) = %d, want %d", Format(c.want), FormatAll(c.have), got, c.best)
		}
	}
}

func TestFormatAllOnHost(t *testing.T) {
	if s := FormatAll([]ocispec.Platform{p("linux", "amd64", ""), p("linux", "arm", "v7"), p("linux", "amd64", "")}); s != "linux/amd64, linux/arm/v7" {
		t.Errorf("FormatAll: %q", s)
	}
	if s := FormatAll(nil); s != "" {
		t.Errorf("FormatAll(nil): %q", s)
	}
	other := map[bool]string{true: "riscv64", false: "s390x"}[runtime.GOARCH == "s390x"]
	for _, c := range []struct {
		p  ocispec.Platform
		ok bool
	}{
		{Host(), true},
		{p("", "", ""), true},
		{p("linux", "", ""), true},
		{p("LINUX", runtime.GOARCH, "v9"), true},
		{p("linux", other, ""), false},
		{p("windows", "", ""), false},
	} {
		if got := OnHost(c.p); got != c.ok {
			t.Errorf("OnHost(%+v) = %v", c.p, got)
		}
	}
	if runtime.GOARCH == "amd64" && !OnHost(p("linux", "x86_64", "")) {
		t.Error("OnHost(linux/x86_64) on amd64 is false")
	}
}

// MatchStrict, for an image already held (inspect, rmi, push, save,
// history, create): a variant asked for is that variant only, as dockerd's
// OnlyStrict; spellings still normalize, and a platform without variant
// takes any.
func TestMatchStrict(t *testing.T) {
	p := func(s string) ocispec.Platform {
		parts := strings.Split(s, "/")
		out := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			out.Variant = parts[2]
		}
		return out
	}
	for _, tc := range []struct {
		want, have string
		ok         bool
	}{
		{"linux/arm/v7", "linux/arm/v7", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/amd64/v3", "linux/amd64", false},
		{"linux/x86_64", "linux/amd64", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/amd64", "linux/amd64/v3", true},
		{"linux/arm", "linux/arm/v6", true},
		{"linux/arm64", "linux/amd64", false},
	} {
		if got := MatchStrict(p(tc.want), p(tc.have)); got != tc.ok {
			t.Errorf("MatchStrict(%s, %s) = %v, want %v", tc.want, tc.have, got, tc.ok)
		}
	}
}
