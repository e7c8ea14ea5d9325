// Command ttrpc serves an empty ttrpc server (no services) on a unix socket:
// the floor of a Go shim serving ttrpc. See package shimfloor.
//
//	ttrpc SOCKET
package main

import (
	"context"
	"net"

	"github.com/containerd/ttrpc"

	"github.com/berthd/berth/test/bench/shimfloor"
)

func main() { shimfloor.Run(serve) }

func serve(l net.Listener) error {
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	return s.Serve(context.Background(), l)
}
