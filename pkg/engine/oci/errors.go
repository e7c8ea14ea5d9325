package oci

import (
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
)

// OptionError is a create option that cannot be applied. Its message is
// what dockerd says where clients match on it; Field names the API field
// (e.g. "HostConfig.CapAdd"), so that every refusal says what was refused.
type OptionError struct {
	Field string
	Msg   string
	class error
}

func (e *OptionError) Error() string { return e.Msg }
func (e *OptionError) Unwrap() error { return e.class }

// invalid is a value the API accepts in principle but not this one (400).
func invalid(field, format string, args ...any) error {
	return &OptionError{Field: field, Msg: fmt.Sprintf(format, args...), class: errdefs.ErrInvalidArgument}
}

// unsupported is an option berth does not implement (501); the message
// names the field so that the user knows what to drop.
func unsupported(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &OptionError{Field: field, Msg: fmt.Sprintf("%s: %s (not supported by berth)", field, msg), class: errdefs.ErrNotImplemented}
}
