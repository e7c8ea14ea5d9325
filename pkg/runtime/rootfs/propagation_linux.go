package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// privateParentMount makes the mount that holds path private when it is
// shared. pivot_root refuses a new root whose parent mount is shared, and
// the rootfs bind made below it would otherwise propagate to the peers of
// that mount, the host's among them.
func privateParentMount(path string) error {
	mp, shared, err := mountOf(path)
	if err != nil {
		return err
	}
	if !shared {
		return nil
	}
	if err := unix.Mount("", mp, "", unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make the rootfs's parent mount private", Path: mp, Err: err}
	}
	return nil
}

// mountOf finds the mount point holding path in /proc/self/mountinfo (the
// deepest one that is path or one of its parents, the last mounted on top
// if several) and whether that mount is shared.
func mountOf(path string) (mountPoint string, shared bool, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	path = filepath.Clean(path)
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(s.Text())
		if len(fields) < 7 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp != path && mp != "/" && !strings.HasPrefix(path, mp+"/") {
			continue
		}
		if len(mp) < len(mountPoint) {
			continue
		}
		mountPoint, shared = mp, false
		for _, opt := range fields[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				shared = true
			}
		}
	}
	if err := s.Err(); err != nil {
		return "", false, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	if mountPoint == "" {
		return "", false, fmt.Errorf("no mount holds %s", path)
	}
	return mountPoint, shared, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}
