package rootfs

import (
	"golang.org/x/sys/unix"
)

// The recursive mount options (runc's, runtime-spec 1.1): "rro" and the
// like set a mount attribute on the mount and on every mount below it,
// with mount_setattr(2) (Linux 5.12). A plain "ro" bind of a tree that has
// mounts inside leaves those writable; "rro" is what Kubernetes'
// recursiveReadOnly volumes ask for.
var recursiveAttrs = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
}

// RecursiveMountOptions are the option names splitRecursive takes out
// (the runtime's features list them).
func RecursiveMountOptions() []string {
	out := make([]string, 0, len(recursiveAttrs))
	for o := range recursiveAttrs {
		out = append(out, o)
	}
	return out
}

// splitRecursive takes the recursive options out of opts: the attributes
// to set and to clear, and the other options.
func splitRecursive(opts []string) (set, clr uint64, rest []string) {
	for _, o := range opts {
		a, ok := recursiveAttrs[o]
		switch {
		case !ok:
			rest = append(rest, o)
		case a.clear:
			clr |= a.attr
			set &^= a.attr
		default:
			set |= a.attr
			clr &^= a.attr
		}
	}
	return set, clr, rest
}
