package errdefs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ToGRPC maps an error to a gRPC status error carrying its class. Servers call
// it on every error they return.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case IsNotFound(err):
		code = codes.NotFound
	case IsAlreadyExists(err):
		code = codes.AlreadyExists
	case IsInvalidArgument(err):
		code = codes.InvalidArgument
	case IsFailedPrecondition(err):
		code = codes.FailedPrecondition
	case IsConflict(err):
		code = codes.Aborted
	case IsUnavailable(err):
		code = codes.Unavailable
	case IsNotImplemented(err):
		code = codes.Unimplemented
	case IsUnauthenticated(err):
		code = codes.Unauthenticated
	case IsPermissionDenied(err):
		code = codes.PermissionDenied
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

// FromGRPC turns a gRPC status error back into an error of the matching class,
// keeping the server's message. Clients call it on every error they receive.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var class error
	switch st.Code() {
	case codes.NotFound:
		class = ErrNotFound
	case codes.AlreadyExists:
		class = ErrAlreadyExists
	case codes.InvalidArgument:
		class = ErrInvalidArgument
	case codes.FailedPrecondition:
		class = ErrFailedPrecondition
	case codes.Aborted:
		class = ErrConflict
	case codes.Unavailable:
		class = ErrUnavailable
	case codes.Unimplemented:
		class = ErrNotImplemented
	case codes.Unauthenticated:
		class = ErrUnauthenticated
	case codes.PermissionDenied:
		class = ErrPermissionDenied
	case codes.Canceled:
		class = context.Canceled
	case codes.DeadlineExceeded:
		class = context.DeadlineExceeded
	default:
		return errors.New(st.Message())
	}
	return &wireError{msg: st.Message(), class: class}
}

// wireError keeps the remote message verbatim while matching its class.
type wireError struct {
	msg   string
	class error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.class }

// Format lets %+v print the class too, for logs.
func (e *wireError) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		fmt.Fprintf(s, "%s (%v)", e.msg, e.class)
		return
	}
	fmt.Fprint(s, e.msg)
}
