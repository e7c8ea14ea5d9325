package container

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/trace"
)

// Trace, when set (the command line sets it from BERTH_TRACE), gets the
// runtime's spans: create's and, through the sync socket, those of the
// container's init, and start's.
var Trace *trace.Trace

// addInitSpans adds init's spans and the clone span: from the start of
// init's process to the start of its first span (fork, exec of the sealed
// binary, the Go runtime's start-up).
func addInitSpans(spawned time.Time, spans []string) {
	if Trace == nil || len(spans) == 0 {
		return
	}
	sub := trace.New("", "")
	sub.AddEncoded(spans)
	got := sub.Spans()
	if len(got) == 0 {
		return
	}
	Trace.Record("clone (init start-up)", spawned, got[0].Start)
	Trace.Add(got...)
}

// awaitExec waits, after init's byte on the exec fifo, for the end of the
// fifo: init keeps its write end (close-on-exec) until it execs the
// container's process when traced, so the end is the execve (or init's
// death). Bounded: a trace never holds a start for long.
func awaitExec(fd int) {
	buf := make([]byte, 64)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 100); err != nil && err != unix.EINTR {
			return
		}
		n, err := unix.Read(fd, buf)
		if n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return
		}
	}
}
