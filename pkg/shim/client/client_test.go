package client

import (
	"context"
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
