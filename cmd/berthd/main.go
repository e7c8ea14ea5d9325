// Command berthd is supervisord and engined in one executable, chosen by
// the name it is run as (bin/supervisord and bin/engined are hard links to
// it) or by its first argument (`berthd engined --help`). The two daemons
// stay separate processes that talk only over supervisord's gRPC API; they
// share the executable so that the kernel keeps one copy of the code both
// link (the Go runtime, gRPC, protobuf, net/http): the pair's idle PSS is a
// quarter lower (docs/decisions.md, "One executable for both daemons").
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/engine/engined"
	"github.com/berthd/berth/pkg/supervisor/supervisord"
)

var commands = map[string]func(args []string){
	"supervisord": supervisord.Main,
	"engined":     engined.Main,
}

func main() {
	if run, ok := commands[filepath.Base(os.Args[0])]; ok {
		run(os.Args[1:])
		return
	}
	if len(os.Args) > 1 {
		if run, ok := commands[os.Args[1]]; ok {
			run(os.Args[2:])
			return
		}
	}
	fmt.Fprintf(os.Stderr, "%s: run me as supervisord or engined (a link of that name, or `berthd supervisord|engined [FLAGS]`)\n", filepath.Base(os.Args[0]))
	os.Exit(2)
}
