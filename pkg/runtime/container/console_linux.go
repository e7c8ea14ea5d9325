package container

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole makes a pty inside the container (after devpts is mounted),
// sends its master over the --console-socket connection and makes the slave
// init's stdio and controlling terminal. Init is a session leader (Setsid).
// size, when the process spec gives one, is set before the master leaves, so
// the process starts at the caller's size rather than 0x0.
func setupConsole(consoleFd int, setsid bool, size *specs.Box) error {
	if setsid {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
	}
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("ptsname: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(int(n))
	slave, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer unix.Close(slave)
	if size != nil && size.Width > 0 && size.Height > 0 {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	rights := unix.UnixRights(master)
	if err := unix.Sendmsg(consoleFd, []byte(slavePath), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master to console socket: %w", err)
	}
	unix.Close(consoleFd)
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup pty slave: %w", err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	_ = os.Stdin
	return nil
}
