// Command runtime is berth's OCI runtime, with a runc-compatible command line.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/runtime/cli"
	"github.com/berthd/berth/pkg/runtime/container"
)

func main() {
	// The container's init and exec'd processes are this binary re-executed
	// (from a protected fd, directly or by runtime-nsenter once it has joined
	// the container's namespaces); they must not go through the command line
	// parser.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case container.InitArg:
			container.Init()
		case container.ExecInitArg:
			container.ExecInit()
		}
	}
	os.Exit(cli.Main(os.Args[1:]))
}
