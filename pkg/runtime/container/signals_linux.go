package container

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is the kernel's struct sigaction for rt_sigaction(2) on
// x86_64 (handler, flags, restorer, mask).
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1 // SIG_IGN; SIG_DFL is 0

// resetIgnoredSignals gives every signal the runtime inherited as ignored
// (SIG_IGN) its default action in the container's process. Ignored
// dispositions survive execve: a background shell, a daemon or a shim that
// ignored SIGINT or SIGHUP would otherwise pass that on, and `trap` or ^C in
// the container would do nothing. Go installed no handler for a signal that
// is still ignored, so switching it to SIG_DFL with raw rt_sigaction calls
// cannot disturb the Go runtime; handled signals are reset by execve itself.
// Called just before the final exec (and before a seccomp filter that might
// forbid rt_sigaction).
func resetIgnoredSignals() {
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var old kernelSigaction
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); errno != 0 {
			continue
		}
		if old.handler != sigIgn {
			continue
		}
		dfl := kernelSigaction{}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
}
