// Package failpoint kills the process at a named step, so that tests can
// show that a SIGKILL there loses nothing (as containerd's integration
// failpoints do). BERTH_FAILPOINT=<name> arms one step in every berth
// process that inherits it; unset, Hit costs one string comparison.
//
// The names are listed in docs/supervisor.md ("Failpoints"); a test that
// arms one checks, after the daemons restart, that nothing is half done.
package failpoint

import (
	"fmt"
	"os"
	"syscall"
)

// Env is the variable naming the armed step.
const Env = "BERTH_FAILPOINT"

// LogEnv names a file that Hit appends "NAME PID" to before it kills, so
// that a test can tell which process died there (a shim's or runtime's
// death is not seen by the caller's exit status).
const LogEnv = "BERTH_FAILPOINT_LOG"

var armed = os.Getenv(Env)

// Hit kills this process with SIGKILL when name is the armed step: no
// deferred function, no cleanup, as a power loss or an OOM kill would.
func Hit(name string) {
	if armed == "" || armed != name {
		return
	}
	if p := os.Getenv(LogEnv); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintf(f, "%s %d\n", name, os.Getpid())
			f.Sync()
			f.Close()
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered before this returns to Go code
}

// Armed tells the armed step ("" for none).
func Armed() string { return armed }
