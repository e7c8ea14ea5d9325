package container

import (
	"os"
	"os/signal"
	"syscall"
)

// resetIgnoredSignals makes every signal the runtime inherited as ignored
// (SIG_IGN) take its default action in the container's process. Ignored
// dispositions survive execve; a background shell, a daemon or a shim that
// ignored SIGINT or SIGHUP would otherwise pass that on, and `trap` or ^C in
// the container would do nothing. Caught signals are reset to their default
// by execve, so catching the ignored ones here is enough. Called just before
// the final exec.
func resetIgnoredSignals() {
	var sigs []os.Signal
	for s := 1; s <= 64; s++ {
		sig := syscall.Signal(s)
		// SIGKILL and SIGSTOP cannot be caught; 32 and 33 belong to the C
		// library's threads.
		if sig == syscall.SIGKILL || sig == syscall.SIGSTOP || s == 32 || s == 33 {
			continue
		}
		if signal.Ignored(sig) {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) > 0 {
		signal.Notify(make(chan os.Signal, 1), sigs...)
	}
}
