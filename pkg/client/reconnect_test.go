package client

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A call made while the supervisor restarts waits for it instead of
// failing at once (gRPC fails fast while it redials, and its redial delay
// grows to minutes).
func TestCallWaitsForRestartedServer(t *testing.T) {
	dir, err := os.MkdirTemp("", "bcr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	serve := func() *grpc.Server {
		os.Remove(sock)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer()
		supervisorv1.RegisterIntrospectionServer(g, introSrv{server: &server{}})
		go g.Serve(l)
		return g
	}
	g := serve()
	c, err := New(sock, WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	g.Stop()
	// Down long enough for several failed redials.
	if _, err := c.IntrospectionService().Version(ctx, &supervisorv1.VersionRequest{}); err == nil {
		t.Fatal("a call to a stopped server succeeded")
	}
	time.Sleep(1500 * time.Millisecond)
	restarted := make(chan *grpc.Server, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		restarted <- serve()
	}()
	defer func() { (<-restarted).Stop() }()
	start := time.Now()
	if _, err := c.IntrospectionService().Version(ctx, &supervisorv1.VersionRequest{}); err != nil {
		t.Fatalf("a call during the restart: %v (after %v)", err, time.Since(start))
	}
}
