// Command runtime is berth's OCI runtime, with a runc-compatible command
// line. The container side (init, exec'd processes) is runtime-init, a
// static C program installed next to it.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/runtime/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
