// Command listen only accepts (and closes) connections on a unix socket: the
// floor of a Go program serving a socket. See package shimfloor.
//
//	listen SOCKET
package main

import (
	"net"

	"github.com/berthd/berth/test/bench/shimfloor"
)

func main() { shimfloor.Run(acceptAll) }

// acceptAll closes each connection it accepts.
func acceptAll(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.Close()
	}
}
