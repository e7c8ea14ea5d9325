// Command ctl is berth's docker-style command line.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
