package platforms

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMatch(t *testing.T) {
	p := func(os, arch, variant string) ocispec.Platform {
		return ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
	}
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
