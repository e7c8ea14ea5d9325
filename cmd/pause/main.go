// Command pause is the process of a CRI pod sandbox: it holds the pod's
// namespaces (IPC, UTS, PID) for the pod's containers to join, reaps the
// orphans it inherits as the pod's PID 1, and exits on SIGTERM or SIGINT.
// It is built static and bind-mounted read-only into an empty rootfs, so a
// pod needs no image. See docs/cri.md.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
