package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread (all threads with TSYNC).
// The caller must have set no_new_privs or hold CAP_SYS_ADMIN, and should be
// on a locked OS thread that goes on to execve.
// With Notify it returns the new listener fd (close-on-exec), else -1.
func (f *Filter) Load() (int, error) {
	if len(f.Prog) == 0 {
		return -1, fmt.Errorf("seccomp: empty program")
	}
	flags := f.Flags
	if f.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	prog := unix.SockFprog{Len: uint16(len(f.Prog)), Filter: &f.Prog[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return -1, fmt.Errorf("seccomp(SET_MODE_FILTER, flags %#x, %d instructions): %w", flags, len(f.Prog), e)
	}
	if f.Notify {
		return int(r), nil
	}
	if f.Flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		return -1, fmt.Errorf("seccomp: TSYNC failed: thread %d has another filter", r)
	}
	return -1, nil
}
