package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestStartSocketTooLong(t *testing.T) {
	_, err := Start(context.Background(), StartOpts{
		ID: "x", Bundle: "/b", Runtime: "runc", StateDir: t.TempDir(), ShimBinary: "/bin/true",
		Socket: "/" + strings.Repeat("s", 107),
	})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "unix socket limit") {
		t.Fatalf("err %v", err)
	}
}

// A shim that dies before it is ready: Start reports its last words.
func TestStartShimDiesEarly(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-shim")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'error: bad flags' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, StartOpts{
		ID: "x", Bundle: "/b", Runtime: "runc", StateDir: filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "s.sock"), ShimBinary: fake,
	})
	if err == nil || !strings.Contains(err.Error(), "bad flags") {
		t.Fatalf("err %v", err)
	}
}

// A shim that never becomes ready is killed after the timeout.
func TestStartShimNeverReady(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-shim")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), StartOpts{
		ID: "x", Bundle: "/b", Runtime: "runc", StateDir: filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "s.sock"), ShimBinary: fake, ReadyTimeout: 300 * time.Millisecond,
	})
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("err %v", err)
	}
}

func TestConnectNothingListening(t *testing.T) {
	_, err := Connect(context.Background(), filepath.Join(t.TempDir(), "none.sock"))
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("err %v", err)
	}
}

// A shim that goes away under an open connection: calls fail Unavailable,
// the class supervisord takes as "the shim is gone".
func TestCallAfterShimGone(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-accepted).Close() // the shim dies
	l.Close()
	if _, err := c.State(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("State after the shim died: %v", err)
	}
	// Streams dial a connection of their own: the socket is gone now.
	if _, err := c.Attach(ctx, true, true); !errdefs.IsUnavailable(err) {
		t.Fatalf("Attach with the socket gone: %v", err)
	}
	if _, err := c.Stdin(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("Stdin with the socket gone: %v", err)
	}
}

// The shim's errors keep their class through the transport.
func TestWrapKeepsClasses(t *testing.T) {
	for _, e := range []error{errdefs.ErrNotFound, errdefs.ErrFailedPrecondition, errdefs.ErrInvalidArgument, errdefs.ErrAlreadyExists} {
		got := wrap(errdefs.ToGRPC(fmt.Errorf("x: %w", e)))
		if !errors.Is(got, e) {
			t.Errorf("%v: got %v", e, got)
		}
	}
	if wrap(nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
}
