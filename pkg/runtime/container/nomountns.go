package container

import specs "github.com/opencontainers/runtime-spec/specs-go"

// checkNoMountNS refuses what a container without a mount namespace of its
// own cannot have. It shares the caller's mount namespace (the spec allows
// it), so every mount would be made there and outlive the container: runc
// makes them and leaves them behind; we say so instead.
func checkNoMountNS(s *specs.Spec) error {
	const why = " need a new mount namespace (without one they would be made in the caller's and outlive the container)"
	switch {
	case len(s.Mounts) > 0:
		return invalid("mounts%s: %d given", why, len(s.Mounts))
	case len(s.Linux.MaskedPaths) > 0 || len(s.Linux.ReadonlyPaths) > 0:
		return invalid("linux.maskedPaths and linux.readonlyPaths%s", why)
	case len(s.Linux.Devices) > 0:
		return invalid("linux.devices%s", why)
	case s.Root.Readonly:
		return invalid("root.readonly%s", why)
	case s.Linux.RootfsPropagation != "":
		return invalid("linux.rootfsPropagation%s", why)
	}
	return nil
}
