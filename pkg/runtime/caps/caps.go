// Package caps maps capability names to numbers and applies the OCI
// process.capabilities sets to the calling thread.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var names = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Names returns every capability name this package knows, in number order.
func Names() []string { return append([]string(nil), names...) }

// Parse returns the number of a capability name ("CAP_CHOWN"; case-insensitive,
// prefix optional).
func Parse(name string) (int, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range names {
		if c == n {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown capability %q", name)
}

// LastCap is the highest capability number the kernel knows.
func LastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(names) - 1
}

// Set is a capability bit set.
type Set uint64

func (s Set) Has(c int) bool { return s&(1<<uint(c)) != 0 }

// ParseSet turns a list of names into a Set; unknown names are errors.
func ParseSet(l []string) (Set, error) {
	var s Set
	for _, n := range l {
		c, err := Parse(n)
		if err != nil {
			return 0, err
		}
		s |= 1 << uint(c)
	}
	return s, nil
}

// Sets are the five capability sets of a process.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient Set
}

// FromSpec parses process.capabilities.
func FromSpec(c *specs.LinuxCapabilities) (Sets, error) {
	var s Sets
	if c == nil {
		return s, nil
	}
	var err error
	for _, x := range []struct {
		dst *Set
		src []string
	}{{&s.Bounding, c.Bounding}, {&s.Effective, c.Effective}, {&s.Permitted, c.Permitted}, {&s.Inheritable, c.Inheritable}, {&s.Ambient, c.Ambient}} {
		if *x.dst, err = ParseSet(x.src); err != nil {
			return s, err
		}
	}
	return s, nil
}

func capget() (eff, perm, inh Set, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err = unix.Capget(&hdr, &data[0]); err != nil {
		return
	}
	eff = Set(data[0].Effective) | Set(data[1].Effective)<<32
	perm = Set(data[0].Permitted) | Set(data[1].Permitted)<<32
	inh = Set(data[0].Inheritable) | Set(data[1].Inheritable)<<32
	return
}

func capset(eff, perm, inh Set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	return unix.Capset(&hdr, &data[0])
}

// Available is the permitted set of the calling thread: what can be granted.
func Available() (Set, error) {
	_, perm, _, err := capget()
	return perm, err
}

// DropBounding removes every capability not in keep from the bounding set.
func DropBounding(keep Set) error {
	last := LastCap()
	for c := 0; c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL {
				continue
			}
			return fmt.Errorf("drop %s from bounding set: %w", name(c), err)
		}
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets, then raises the
// ambient ones. Must run on the thread that will execve. An ambient capability
// that cannot be raised (it must be permitted and inheritable) is passed to
// warn, as runc does, not an error.
func Apply(s Sets, warn func(string, ...any)) error {
	if err := capset(s.Effective, s.Permitted, s.Inheritable); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := 0; c < 64; c++ {
		// The kernel only raises an ambient capability that is permitted and
		// inheritable; runc's default spec lists ambient ones that are not.
		if s.Ambient.Has(c) && s.Permitted.Has(c) && s.Inheritable.Has(c) {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				warn("cannot raise ambient capability %s: %v", name(c), err)
			}
		}
	}
	return nil
}

// Restrict removes from every set the capabilities not in avail and returns
// the names of those removed (the caller logs them as warnings).
func Restrict(s Sets, avail Set) (Sets, []string) {
	var missing Set
	for _, p := range []*Set{&s.Bounding, &s.Effective, &s.Permitted, &s.Inheritable, &s.Ambient} {
		missing |= *p &^ avail
		*p &= avail
	}
	var out []string
	for c := 0; c < 64; c++ {
		if missing.Has(c) {
			out = append(out, name(c))
		}
	}
	return s, out
}

func name(c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return fmt.Sprintf("cap %d", c)
}
