package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/berthd/berth/pkg/runtime/standby"
)

// Standby runs `runtime standby`: the commands the caller sends on fd
// (package standby), each as Main runs it, and returns the exit code: the
// last command's, or 0 when the caller dropped the standby. createNext
// (standby.ArgCreate) starts the init of the create to come ahead.
func Standby(fd int, createNext bool) int {
	w, err := standby.Listen(fd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runtime:", err)
		return 1
	}
	defer w.Close()
	// This process may live on after a create (a session): init must be
	// the caller's child from the start, for the caller to reap it when it
	// exits, whenever that is.
	container.InitSibling = true
	if createNext {
		// Best effort: without it the create clones its init as ever.
		if err := container.StartInitAhead(); err != nil {
			fmt.Fprintln(os.Stderr, "runtime: warning:", err)
		}
	}
	// Before the ready byte: the first command then finds its code paged
	// in, its JSON codecs and its command tree built.
	first := newTree()
	next := func() tree { return first }
	container.Warm()
	ran := false
	for {
		c, err := w.Next()
		if errors.Is(err, standby.ErrDropped) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime:", err)
			if ran {
				// The command before succeeded; only the session ends.
				return 0
			}
			return 1
		}
		traceFromEnv() // the command's environment is set now
		status := execute(next(), c.Args, container.Trace.Begin("command"))
		if status != 0 || !c.Keep {
			return status
		}
		ran = true
		// The next command's tree (0.3 ms here) is built while Next tells
		// the caller this one is done and waits, not on the next's path.
		ch := make(chan tree, 1)
		go func() { ch <- newTree() }()
		next = func() tree { return <-ch }
	}
}
