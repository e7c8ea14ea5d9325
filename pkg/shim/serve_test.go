package shim

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// socketPair is a connected pair of unix stream connections.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}

// A spare serves its launcher's connection before it has a container; a
// call waits at the gate, and a set-up that failed is its error.
func TestEarlyAPIHoldsCallsUntilSetUp(t *testing.T) {
	ours, theirs := socketPair(t)
	api, err := serveEarly(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer api.srv.Close()
	c := ttrpc.NewClient(ours)
	defer c.Close()
	sc := shimv1.NewShimClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := sc.State(ctx, &shimv1.StateRequest{})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("answered before the shim was set up: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	api.gate.open(fmt.Errorf("socket x is in use: %w", errdefs.ErrAlreadyExists))
	select {
	case err := <-done:
		if !errdefs.IsAlreadyExists(errdefs.FromGRPC(err)) {
			t.Fatalf("call after a failed set-up: %v, want the set-up's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call still held after the gate opened")
	}
}

// lateListener hands out the connection made ahead first, then those of
// the listener attached later; Close ends an Accept waiting for it.
func TestLateListener(t *testing.T) {
	first, other := socketPair(t)
	defer other.Close()
	ll := newLateListener(first)
	if c, err := ll.Accept(); err != nil || c != first {
		t.Fatalf("first accept: %v %v", c, err)
	}
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		c, err := ll.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		t.Fatalf("accepted before a listener was attached: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	ll.attach(l)
	d, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("accept on the attached listener: %v", err)
	}

	ll2 := newLateListener(nil)
	go func() {
		_, err := ll2.Accept()
		accepted <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ll2.Close()
	select {
	case err := <-accepted:
		if err == nil {
			t.Fatal("accept after close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Accept")
	}
	ll.Close()
}

// listen replaces a socket file nobody answers on, and refuses one a live
// listener answers on.
func TestListenStaleAndLive(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens
	nl, err := listen(stale)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer nl.Close()
	if _, err := listen(stale); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("listen on a live socket: %v, want already exists", err)
	}
	fresh, err := listen(filepath.Join(dir, "fresh.sock"))
	if err != nil {
		t.Fatalf("listen on a new path: %v", err)
	}
	fresh.Close()
}
