package container

import (
	"errors"
	"fmt"
)

// classedError carries an errdefs class without adding its text to the
// message: shims match runc's exact messages ("container does not exist").
type classedError struct {
	msg   string
	class error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }

func classErr(class error, format string, a ...any) error {
	return &classedError{msg: fmt.Sprintf(format, a...), class: class}
}

// Error classes of the runtime. They mirror pkg/errdefs, which the runtime
// binary does not import: errdefs carries the gRPC mapping, and gRPC's package
// initialisation would run on every runtime and container-init start.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrNotImplemented     = errors.New("not implemented")
	// ErrOwnProcess: a create run in its caller's process (CallerReaps)
	// that needs a runtime process of its own; nothing was made.
	ErrOwnProcess = errors.New("needs a runtime process of its own")
)
