package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread (all threads with TSYNC).
// The caller must have set no_new_privs or hold CAP_SYS_ADMIN, and should be
// on a locked OS thread that goes on to execve.
func (f *Filter) Load() error {
	if len(f.Prog) == 0 {
		return fmt.Errorf("seccomp: empty program")
	}
	prog := unix.SockFprog{Len: uint16(len(f.Prog)), Filter: &f.Prog[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f.Flags), uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, flags %#x, %d instructions): %w", f.Flags, len(f.Prog), e)
	}
	if f.Flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		return fmt.Errorf("seccomp: TSYNC failed: thread %d has another filter", r)
	}
	return nil
}
