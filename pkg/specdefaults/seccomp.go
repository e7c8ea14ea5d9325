package specdefaults

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Seccomp returns Docker's default profile for s. The profile depends on
// the spec's capabilities (CAP_SYS_ADMIN allows mount...), so the caller
// sets them first.
func Seccomp(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	return p, nil
}

// LoadSeccomp reads a profile in Docker's JSON format (a Localhost profile
// of the CRI, a --security-opt seccomp=FILE of docker) for s.
func LoadSeccomp(profile string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.LoadProfile(profile, s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return p, nil
}
