package rootfs

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Chroot makes the rootfs the root of a container without a mount
// namespace of its own (the spec lets it share the caller's). Nothing is
// mounted: a mount would land in the caller's namespace and outlive the
// container (runc makes them there and leaves them behind), so the config
// check refuses mounts, masked and read-only paths and linux.devices for
// such a container. pivot_root would move the caller's root as well, so the
// root changes with chroot(2), as runc does here.
func Chroot(spec *specs.Spec, o Options) error {
	if o.BeforePivot != nil {
		if err := o.BeforePivot(); err != nil {
			return err
		}
	}
	if err := unix.Chdir(o.Rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: o.Rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: o.Rootfs, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if p := spec.Process; p != nil && p.Cwd != "" {
		if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
			return &os.PathError{Op: "create cwd", Path: p.Cwd, Err: err}
		}
	}
	return nil
}
