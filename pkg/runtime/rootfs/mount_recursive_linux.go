package rootfs

import (
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// recursiveAttr is a mount option that applies to a mount and every mount
// below it (runc's "rro", "rnosuid", ...), set with mount_setattr(2)
// AT_RECURSIVE after the mount is made. Docker asks for "rro" on every
// read-only bind so that submounts of the source are read-only too.
type recursiveAttr struct{ set, clr uint64 }

var recursiveAttrs = map[string]recursiveAttr{
	"rro": {set: unix.MOUNT_ATTR_RDONLY}, "rrw": {clr: unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {set: unix.MOUNT_ATTR_NOSUID}, "rsuid": {clr: unix.MOUNT_ATTR_NOSUID},
	"rnodev": {set: unix.MOUNT_ATTR_NODEV}, "rdev": {clr: unix.MOUNT_ATTR_NODEV},
	"rnoexec": {set: unix.MOUNT_ATTR_NOEXEC}, "rexec": {clr: unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {set: unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {clr: unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {set: unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {clr: unix.MOUNT_ATTR_NOSYMFOLLOW},
	// The access-time mode is one field: clearing the whole field and
	// setting one value is how the kernel takes a change of it.
	"rrelatime":    {set: unix.MOUNT_ATTR_RELATIME, clr: unix.MOUNT_ATTR__ATIME},
	"rnoatime":     {set: unix.MOUNT_ATTR_NOATIME, clr: unix.MOUNT_ATTR__ATIME},
	"rstrictatime": {set: unix.MOUNT_ATTR_STRICTATIME, clr: unix.MOUNT_ATTR__ATIME},
}

// RecursiveMountOptions are the recursive options this runtime applies
// (for `features`).
func RecursiveMountOptions() []string {
	out := make([]string, 0, len(recursiveAttrs))
	for k := range recursiveAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setRecursive applies the recursive options of opts to the mount at dest
// and every mount below it.
func (o *Options) setRecursive(dest string, opts []string) error {
	var attr unix.MountAttr
	for _, op := range opts {
		if a, ok := recursiveAttrs[op]; ok { // the last of two opposites wins
			attr.Attr_set = attr.Attr_set&^a.clr | a.set
			attr.Attr_clr = attr.Attr_clr&^a.set | a.clr
		}
	}
	if attr.Attr_set == 0 && attr.Attr_clr == 0 {
		return nil
	}
	t, done, err := o.at(dest)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.MountSetattr(unix.AT_FDCWD, t, unix.AT_RECURSIVE, &attr); err != nil {
		return &os.PathError{Op: "mount_setattr (recursive options)", Path: dest, Err: err}
	}
	return nil
}
