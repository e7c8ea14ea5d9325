// Package errdefs defines the error classes that callers branch on. Code
// inside berth wraps one of these with %w and context (operation, path, id);
// the classes are translated to gRPC codes and HTTP statuses only at the wire.
//
// The classes are containerd's (github.com/containerd/errdefs), which the
// Docker client we link also uses: an error a library returns in one of
// them (a registry's 401 through moby's client, a containerd error) is
// classed the same here, with no mapping between two vocabularies.
package errdefs

import (
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
)

var (
	ErrNotFound           error = cerrdefs.ErrNotFound
	ErrAlreadyExists      error = cerrdefs.ErrAlreadyExists
	ErrInvalidArgument    error = cerrdefs.ErrInvalidArgument
	ErrFailedPrecondition error = cerrdefs.ErrFailedPrecondition
	ErrUnavailable        error = cerrdefs.ErrUnavailable
	ErrNotImplemented     error = cerrdefs.ErrNotImplemented
	ErrConflict           error = cerrdefs.ErrConflict
	// ErrUnauthenticated: credentials are missing or refused (a registry's
	// 401); HTTP 401.
	ErrUnauthenticated error = cerrdefs.ErrUnauthenticated
	// ErrPermissionDenied: the caller is known but not allowed (a
	// registry's 403); HTTP 403.
	ErrPermissionDenied error = cerrdefs.ErrPermissionDenied
)

func IsNotFound(err error) bool           { return cerrdefs.IsNotFound(err) }
func IsAlreadyExists(err error) bool      { return cerrdefs.IsAlreadyExists(err) }
func IsInvalidArgument(err error) bool    { return cerrdefs.IsInvalidArgument(err) }
func IsFailedPrecondition(err error) bool { return cerrdefs.IsFailedPrecondition(err) }
func IsUnavailable(err error) bool        { return cerrdefs.IsUnavailable(err) }
func IsNotImplemented(err error) bool     { return cerrdefs.IsNotImplemented(err) }
func IsConflict(err error) bool           { return cerrdefs.IsConflict(err) }
func IsUnauthenticated(err error) bool    { return cerrdefs.IsUnauthorized(err) }
func IsPermissionDenied(err error) bool   { return cerrdefs.IsPermissionDenied(err) }

// Classf is an error of class whose text is only the formatted message,
// for messages that must read exactly as another program words them
// (dockerd's, shown by the docker CLI) while callers still branch on the
// class.
func Classf(class error, format string, args ...any) error {
	return &wireError{msg: fmt.Sprintf(format, args...), class: class}
}
