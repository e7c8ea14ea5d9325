// Package engine runs engined: the Docker Engine API (package api) over the
// engine's container store (package containers), which talks to supervisord
// through pkg/client in the "engine" namespace.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/network"
	"github.com/berthd/berth/pkg/engine/volume"
)

// Namespace is the supervisor namespace the engine keeps its containers in.
const Namespace = "engine"

// Defaults, as dockerd's but under berth.
const (
	DefaultHost       = "unix:///run/berth/engined.sock"
	DefaultDataRoot   = "/var/lib/berth/engine"
	DefaultExecRoot   = "/run/berth/engine"
	DefaultSupervisor = "unix:///run/berth/supervisord.sock"
)

// Config of engined.
type Config struct {
	Host       string // unix://PATH
	DataRoot   string
	ExecRoot   string
	Supervisor string // unix://PATH
	Version    string
	Commit     string
	// SocketGroup owns the socket (-1 or unset: the process's group).
	SocketGID int
	// InitPath is the docker-init for --init ("" looks for docker-init or
	// tini-static on the PATH); Init gives every container one by default.
	InitPath string
	Init     bool
	// DefaultBridge names the default network's bridge (berth0) and
	// NFTable the nftables table of the engine's rules (berth): test
	// stacks side by side each use their own.
	DefaultBridge string
	NFTable       string
	Log           *slog.Logger
}

// Run serves the Engine API until ctx ends, then shuts down gracefully.
// Containers keep running.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	path, ok := strings.CutPrefix(cfg.Host, "unix://")
	if !ok && strings.Contains(cfg.Host, "://") {
		return fmt.Errorf("host %q: only unix:// sockets are supported", cfg.Host)
	}
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot, filepath.Dir(path)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
	}
	sup, err := client.New(cfg.Supervisor, client.WithNamespace(Namespace), client.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer sup.Close()
	vols, err := volume.Open(cfg.DataRoot)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	nm, err := network.New(network.Config{DataRoot: cfg.DataRoot, ExecRoot: cfg.ExecRoot, Bridge: cfg.DefaultBridge, Table: cfg.NFTable, Log: cfg.Log})
	if err != nil {
		return fmt.Errorf("networking: %w", err)
	}
	d, err := containers.New(ctx, &containers.Remote{C: sup}, cfg.DataRoot, cfg.Log, containers.WithInit(cfg.InitPath, cfg.Init), containers.WithVolumes(vols), containers.WithNetwork(nm))
	if err != nil {
		return err
	}
	defer d.Close()

	l, err := Listen(path, cfg.SocketGID)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(cfg.ExecRoot, "engined.pid")
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	defer os.Remove(pidFile)

	srv := &http.Server{
		Handler:           api.New(d, api.Config{Version: cfg.Version, Commit: cfg.Commit, DataRoot: cfg.DataRoot, Log: cfg.Log}),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	cfg.Log.Info("engined listening", "socket", path, "supervisor", cfg.Supervisor)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.Log.Info("engined shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	os.Remove(path)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
		return nil
	}
	return err
}

// Listen creates the unix socket at path (replacing a stale one), mode 0660.
func Listen(path string, gid int) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	if gid > 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}
