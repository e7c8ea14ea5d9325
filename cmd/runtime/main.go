// Command runtime is berth's OCI runtime, with a runc-compatible command line.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/runtime/cli"
	"github.com/berthd/berth/pkg/runtime/container"
	_ "github.com/berthd/berth/pkg/runtime/nsenter" // joins namespaces for exec before Go starts
)

func main() {
	// The container's init and exec'd processes are this binary re-executed
	// (from a sealed memfd); they must not go through the command line parser.
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
