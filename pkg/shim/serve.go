package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// MaxSocketPath is the longest unix socket path the kernel accepts
// (sun_path is 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// CheckSocketPath reports whether path can be a unix socket address.
func CheckSocketPath(path string) error {
	if path == "" {
		return fmt.Errorf("socket path is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(path) > MaxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than the unix socket limit of %d: %w",
			path, len(path), MaxSocketPath, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Run serves the shim API for cfg until Shutdown is called. Once the socket
// listens it writes "ok\n" to ready and closes it; a failure before that is
// written to ready as "error: ...\n". ready may be nil.
func Run(ctx context.Context, cfg Config, ready io.WriteCloser) (err error) {
	notReady := ready
	defer func() {
		if notReady != nil {
			if err != nil {
				fmt.Fprintf(notReady, "error: %v\n", err)
			}
			notReady.Close()
		}
	}()
	if cfg.ID == "" || cfg.Bundle == "" || cfg.Runtime == "" || cfg.StateDir == "" {
		return fmt.Errorf("id, bundle, runtime and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	if err := CheckSocketPath(cfg.Socket); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, ShimPidFile),
		[]byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return fmt.Errorf("write shim pid: %w", err)
	}
	l, err := listen(cfg.Socket)
	if err != nil {
		return err
	}

	stop := make(chan struct{})
	reaper := NewReaper()
	if err := reaper.Run(stop); err != nil {
		l.Close()
		return err
	}
	srv := grpc.NewServer(
		grpc.ReadBufferSize(4<<10),
		grpc.WriteBufferSize(4<<10),
		grpc.SharedWriteBuffer(true),
		grpc.NumStreamWorkers(0),
		grpc.UnaryInterceptor(traceInterceptor()),
	)
	shutdown := make(chan struct{})
	svc := newService(cfg, reaper, func() { close(shutdown) })
	shimv1.RegisterShimServer(srv, svc)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Printf("shim for %s listening on %s", cfg.ID, cfg.Socket)
	if ready != nil {
		notReady = nil
		_, _ = io.WriteString(ready, "ok\n")
		ready.Close()
	}

	cleanup := true
	select {
	case <-shutdown:
	case <-ctx.Done():
		// Asked to stop while (maybe) holding a container: keep the state
		// for whoever looks after it next.
		cleanup = false
		log.Printf("stopping: %v", ctx.Err())
	case err := <-served:
		close(stop)
		return fmt.Errorf("serve: %w", err)
	}
	// Let the Shutdown reply go out, then stop.
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		srv.Stop()
	}
	close(stop)
	os.Remove(cfg.Socket)
	if !cleanup {
		return nil
	}
	if err := os.RemoveAll(cfg.StateDir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}

// listen creates the socket 0600, replacing a stale socket file but never
// one a live shim answers on.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s is in use: %w", path, errdefs.ErrAlreadyExists)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
