// Package errdefs defines the error classes that callers branch on. Code
// inside berth wraps one of these with %w and context (operation, path, id);
// the classes are translated to gRPC codes and HTTP statuses only at the wire.
package errdefs

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrNotImplemented     = errors.New("not implemented")
	ErrConflict           = errors.New("conflict")
)

func IsNotFound(err error) bool           { return errors.Is(err, ErrNotFound) }
func IsAlreadyExists(err error) bool      { return errors.Is(err, ErrAlreadyExists) }
func IsInvalidArgument(err error) bool    { return errors.Is(err, ErrInvalidArgument) }
func IsFailedPrecondition(err error) bool { return errors.Is(err, ErrFailedPrecondition) }
func IsUnavailable(err error) bool        { return errors.Is(err, ErrUnavailable) }
func IsNotImplemented(err error) bool     { return errors.Is(err, ErrNotImplemented) }
func IsConflict(err error) bool           { return errors.Is(err, ErrConflict) }

// Classf is an error of class whose text is only the formatted message,
// for messages that must read exactly as another program words them
// (dockerd's, shown by the docker CLI) while callers still branch on the
// class.
func Classf(class error, format string, args ...any) error {
	return &wireError{msg: fmt.Sprintf(format, args...), class: class}
}
