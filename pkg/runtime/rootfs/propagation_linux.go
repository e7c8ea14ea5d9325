package rootfs

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootPropagation reads linux.rootfsPropagation. before is applied to the
// copy of the caller's "/" in the new mount namespace, before the rootfs is
// bound; after (0: none) to the container's "/" once pivot_root made the
// rootfs the root, which is what the spec's field is about.
//
// Before the bind the field's own flag is used, as runc does (so that with
// "shared" the host's shared mounts stay peers and a bind mount with
// "rshared" propagates both ways), except "unbindable": an unbindable "/"
// cannot be bound from at all. Without the field, everything becomes
// rslave: host mounts still reach the container, nothing flows back.
func rootPropagation(spec *specs.Spec) (before, after uintptr, err error) {
	before = unix.MS_SLAVE | unix.MS_REC
	if spec.Linux == nil || spec.Linux.RootfsPropagation == "" {
		return before, 0, nil
	}
	p, ok := propagationFlags[spec.Linux.RootfsPropagation]
	if !ok {
		return 0, 0, fmt.Errorf("invalid rootfsPropagation %q", spec.Linux.RootfsPropagation)
	}
	if p&unix.MS_UNBINDABLE == 0 {
		before = p
	}
	return before, p, nil
}
