// Package sockperm gives the daemons' unix sockets their owner and mode, as
// dockerd does for docker.sock: mode 0660, owner root, and a group whose
// members may use the daemon (-G, "docker" by default). Whoever can write
// to such a socket is root on the host, so the group is the whole access
// control of the front door.
package sockperm

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// DefaultGroup is the group the sockets get when none is named, as dockerd's.
const DefaultGroup = "docker"

// Mode is the sockets' permission bits.
const Mode os.FileMode = 0o660

// Group resolves -G: a group name or a numeric gid. When the flag was not
// given (explicit false) and the default group does not exist, the socket
// stays root's (gid 0) and note says so; a group named explicitly must
// exist.
func Group(spec string, explicit bool) (gid int, note string, err error) {
	if spec == "" {
		if explicit {
			return 0, "", errors.New("-G/--group: empty group name")
		}
		spec = DefaultGroup
	}
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 0 {
			return 0, "", fmt.Errorf("-G/--group %q: a gid is not negative", spec)
		}
		return n, "", nil
	}
	g, err := user.LookupGroup(spec)
	if err != nil {
		var unknown user.UnknownGroupError
		if !explicit && errors.As(err, &unknown) {
			return 0, fmt.Sprintf("group %s not found: the socket is root's only (root:root %#o); name a group with -G", spec, Mode), nil
		}
		return 0, "", fmt.Errorf("-G/--group %q: %w", spec, err)
	}
	n, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, "", fmt.Errorf("-G/--group %q: gid %q: %w", spec, g.Gid, err)
	}
	return n, "", nil
}

// Apply makes the socket at path root:gid, mode 0660.
func Apply(path string, gid int) error {
	if err := os.Chown(path, 0, gid); err != nil {
		return fmt.Errorf("socket %s: owner root:%d: %w", path, gid, err)
	}
	if err := os.Chmod(path, Mode); err != nil {
		return fmt.Errorf("socket %s: mode %#o: %w", path, Mode, err)
	}
	return nil
}
