package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSpareDropped is AwaitSpare's error when the launcher closed the config
// socket without giving the spare a container: the shim exits quietly.
var ErrSpareDropped = errors.New("spare shim dropped")

// AwaitSpare waits, in a spare shim, for the one datagram its launcher
// sends on the config socket fd: the shim's arguments, and its log file as
// a passed fd, which becomes its stderr. The socket is closed on return.
func AwaitSpare(fd int) ([]string, error) {
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		handOver.got = time.Now()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spare: read config: %w", err)
		}
		if n == 0 && oobn == 0 {
			return nil, ErrSpareDropped
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return nil, fmt.Errorf("spare: config without its log fd")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return nil, fmt.Errorf("spare: config without its log fd")
		}
		err = unix.Dup3(fds[0], 2, 0)
		unix.Close(fds[0])
		if err != nil {
			return nil, fmt.Errorf("spare: log as stderr: %w", err)
		}
		var args []string
		if err := json.Unmarshal(buf[:n], &args); err != nil {
			return nil, fmt.Errorf("spare: config: %w", err)
		}
		return args, nil
	}
}

// handOver times a spare's set-up once it has its container, for the
// trace of its create: got when its arguments arrived (AwaitSpare), ready
// when its API let calls in (Run). Written before the gate opens, read by
// the create behind it.
var handOver struct{ got, ready time.Time }
