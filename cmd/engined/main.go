// Command engined serves the Docker Engine API on a unix socket, on top of
// supervisord.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/engine/engined"
)

func main() { engined.Main(os.Args[1:]) }
