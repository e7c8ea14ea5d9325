// Package failpoint kills the process at a named step, so that tests can
// show that a SIGKILL there loses nothing (as containerd's integration
// failpoints do). BERTH_FAILPOINT=<name> arms one step in every berth
// process that inherits it; unset, Hit costs one string comparison.
//
// The names are listed in docs/supervisor.md ("Failpoints"); a test that
// arms one checks, after the daemons restart, that nothing is half done.
package failpoint

import (
	"os"
	"syscall"
)

// Env is the variable naming the armed step.
const Env = "BERTH_FAILPOINT"

var armed = os.Getenv(Env)

// Hit kills this process with SIGKILL when name is the armed step: no
// deferred function, no cleanup, as a power loss or an OOM kill would.
func Hit(name string) {
	if armed == "" || armed != name {
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered before this returns to Go code
}

// Armed tells the armed step ("" for none).
func Armed() string { return armed }
