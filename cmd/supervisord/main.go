// Command supervisord is berth's container supervisor: content, images,
// snapshots, containers and tasks over gRPC. See docs/supervisor.md.
package main

import (
	"os"

	"github.com/berthd/berth/pkg/supervisor/supervisord"
)

func main() { supervisord.Main(os.Args[1:]) }
