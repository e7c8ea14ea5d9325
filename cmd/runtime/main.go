// Command runtime is berth's OCI runtime, with a runc-compatible command
// line. The container side (init, exec'd processes) is runtime-init, a
// static C program installed next to it.
//
// `runtime standby` is the runtime started before its command is known: it
// gets its commands on fd 3 from the shim that started it (package standby).
package main

import (
	"os"

	_ "github.com/berthd/berth/cmd/runtime/internal/heap" // huge pages before the heap grows (its doc says why early)
	"github.com/berthd/berth/pkg/runtime/cli"
	"github.com/berthd/berth/pkg/runtime/standby"
)

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == standby.Arg {
		os.Exit(cli.Standby(standby.FD, false))
	}
	if len(args) == 2 && args[0] == standby.Arg && args[1] == standby.ArgCreate {
		os.Exit(cli.Standby(standby.FD, true))
	}
	os.Exit(cli.Main(args))
}
