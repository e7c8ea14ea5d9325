// Package unixsock listens on a daemon's unix socket the one way berth's
// daemons do: parent 0711, socket 0660, a stale socket replaced, a live
// one refused.
package unixsock

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/errdefs"
)

// Listen listens on addr. A socket nobody answers on is a leftover of a
// killed daemon and is removed; one that answers is another daemon
// (AlreadyExists); anything else at addr is not touched (FailedPrecondition).
func Listen(addr string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(addr), 0o711); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(addr); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: %w", addr, errdefs.ErrFailedPrecondition)
		}
		if c, err := net.Dial("unix", addr); err == nil {
			c.Close()
			return nil, fmt.Errorf("another server listens on %s: %w", addr, errdefs.ErrAlreadyExists)
		}
		os.Remove(addr)
	}
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(addr, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
