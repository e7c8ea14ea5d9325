package errdefs

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRoundTripKeepsClassAndMessage(t *testing.T) {
	for _, class := range []error{ErrNotFound, ErrAlreadyExists, ErrInvalidArgument, ErrFailedPrecondition, ErrUnavailable, ErrNotImplemented, ErrConflict, ErrUnauthenticated, ErrPermissionDenied} {
		orig := fmt.Errorf("image %q: %w", "busybox", class)
		wire := ToGRPC(orig)
		if _, ok := status.FromError(wire); !ok {
			t.Fatalf("%v: not a status error", class)
		}
		back := FromGRPC(wire)
		if !errors.Is(back, class) {
			t.Errorf("%v: class lost over the wire: %v", class, back)
		}
		if back.Error() != orig.Error() {
			t.Errorf("message changed: %q -> %q", orig, back)
		}
	}
}

func TestUnknownStaysUnknown(t *testing.T) {
	wire := ToGRPC(errors.New("boom"))
	if status.Code(wire) != codes.Unknown {
		t.Fatalf("code %v", status.Code(wire))
	}
	back := FromGRPC(wire)
	if IsNotFound(back) || back.Error() != "boom" {
		t.Fatalf("got %v", back)
	}
	if ToGRPC(nil) != nil || FromGRPC(nil) != nil {
		t.Fatal("nil must stay nil")
	}
}
