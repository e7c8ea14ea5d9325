package seccomp

import (
	"testing"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func BenchmarkCompileDockerDefault(b *testing.B) {
	caps := []string{"CAP_CHOWN", "CAP_KILL"}
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	prof, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		b.Fatal(err)
	}
	f, err := Compile(prof)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("instructions: %d", len(f.Prog))
	for b.Loop() {
		if _, err := Compile(prof); err != nil {
			b.Fatal(err)
		}
	}
}
