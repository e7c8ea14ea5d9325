package containers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS, "CHLD": syscall.SIGCHLD,
	"CONT": syscall.SIGCONT, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP, "ILL": syscall.SIGILL,
	"INT": syscall.SIGINT, "IO": syscall.SIGIO, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"PROF": syscall.SIGPROF, "PWR": syscall.SIGPWR, "QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV,
	"STOP": syscall.SIGSTOP, "SYS": syscall.SIGSYS, "TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "VTALRM": syscall.SIGVTALRM, "WINCH": syscall.SIGWINCH,
	"XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
}

// ParseSignal reads "KILL", "SIGKILL" or "9" ("" is SIGKILL, as docker kill).
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		if n == 0 || n > 64 {
			return 0, &msgError{msg: fmt.Sprintf("Invalid signal: %s", s), class: errdefs.ErrInvalidArgument}
		}
		return syscall.Signal(n), nil
	}
	if sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, &msgError{msg: fmt.Sprintf("Invalid signal: %s", s), class: errdefs.ErrInvalidArgument}
}

// killTask signals a task for stop and rm -f. The container may exit
// meanwhile (the signal before this one, or its own end) and its task and
// shim go with it: a kill that fails then is no failure of the stop, as
// long as the exit is recorded shortly (exited is closed at the exit).
func (d *Daemon) killTask(ctx context.Context, id string, sig syscall.Signal, exited <-chan struct{}) error {
	err := d.sup.KillTask(ctx, id, uint32(sig))
	if err == nil || errdefs.IsNotFound(err) {
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-time.After(5 * time.Second):
		return err
	case <-ctx.Done():
		return err
	}
}
