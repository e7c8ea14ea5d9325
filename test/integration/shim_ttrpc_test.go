package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// shimSockets counts the shim's open sockets (its listener, one per
// connection).
func shimSockets(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && len(l) > 7 && l[:7] == "socket:" {
			n++
		}
	}
	return n
}

// waitSockets waits until the shim has n sockets open.
func waitSockets(t *testing.T, pid, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for shimSockets(t, pid) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d sockets, want %d", when, shimSockets(t, pid), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Detaching (cancelling an Attach or abandoning a stdin stream) ends the
// shim's side of the stream: ttrpc cannot cancel a stream, so each has a
// connection of its own that the client closes. Without that, every
// detached attacher of an idle container would stay in the shim until the
// container exits.
func TestShimDetachFreesStream(t *testing.T) {
	e := newShimEnv(t, "sh", "-c", "cat; sleep 100")
	ctx := shimCtx(t)
	e.create(t, ctx)
	if _, err := e.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := shimSockets(t, e.pid)
	actx, cancel := context.WithCancel(ctx)
	if _, err := e.c.Attach(actx, true, true); err != nil {
		t.Fatal(err)
	}
	w, err := e.c.Stdin(actx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	waitSockets(t, e.pid, base+2, "attached")
	cancel()
	waitSockets(t, e.pid, base, "after detach")
	// The container and the main connection are unaffected.
	if _, err := e.c.State(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
}
