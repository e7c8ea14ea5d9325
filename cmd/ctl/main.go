// Command ctl is berth's docker-style command line.
package main

import (
	"os"

	_ "github.com/berthd/berth/cmd/ctl/internal/heap" // huge pages before the heap grows (its doc says why early)
	"github.com/berthd/berth/pkg/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
