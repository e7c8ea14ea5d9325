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
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/network"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/engine/userns"
	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/sockperm"
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
	// Hosts are the -H addresses: unix://PATH, tcp://HOST[:PORT].
	Hosts      []string
	DataRoot   string
	ExecRoot   string
	Supervisor string // unix://PATH
	Version    string
	Commit     string
	// SocketGID is the group of the unix sockets (0: root's only).
	SocketGID int
	// TLS of tcp:// hosts.
	TLS TLS
	// InitPath is the docker-init for --init ("" looks for docker-init or
	// tini-static on the PATH); Init gives every container one by default.
	InitPath string
	Init     bool
	// DefaultBridge names the default network's bridge (berth0) and
	// NFTable the nftables table of the engine's rules (berth): test
	// stacks side by side each use their own.
	DefaultBridge string
	NFTable       string
	// UsernsRemap is --userns-remap (default, USER[:GROUP]); "" keeps
	// containers in the host's user namespace.
	UsernsRemap string
	// CgroupDriver is "cgroupfs" (or "") or "systemd" (--exec-opt
	// native.cgroupdriver; see ParseExecOpts).
	CgroupDriver string
	Log          *slog.Logger
}

// Run serves the Engine API until ctx ends, then shuts down gracefully.
// Containers keep running.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{DefaultHost}
	}
	plan, err := planHosts(cfg.Hosts, cfg.TLS)
	if err != nil {
		return err
	}
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
	}
	// A bad --userns-remap fails before anything else is touched.
	remap, err := userns.Resolve(cfg.UsernsRemap, userns.SystemFiles)
	if err != nil {
		return err
	}
	if remap != nil {
		uid, gid := remap.Root()
		if err := userns.CheckReachable(cfg.DataRoot, uid, gid); err != nil {
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
	if remap != nil {
		vols.SetOwner(remap.Root())
		cfg.Log.Info("containers run in a remapped user namespace", "user", remap.User, "uids", remap.UIDs, "gids", remap.GIDs)
	}
	nm, err := network.New(network.Config{DataRoot: cfg.DataRoot, ExecRoot: cfg.ExecRoot, Bridge: cfg.DefaultBridge, Table: cfg.NFTable, Log: cfg.Log, Spares: true,
		NetNSSysctls: oci.NetworkSysctls(remap != nil)})
	if err != nil {
		return fmt.Errorf("networking: %w", err)
	}
	defer nm.Close()
	d, err := containers.New(ctx, &containers.Remote{C: sup}, cfg.DataRoot, cfg.Log, containers.WithInit(cfg.InitPath, cfg.Init), containers.WithVolumes(vols), containers.WithNetwork(nm), containers.WithUsernsRemap(remap), containers.WithSystemdCgroup(cfg.CgroupDriver == "systemd"), containers.WithTasksAhead(containers.AheadLinger))
	if err != nil {
		return err
	}
	defer d.Close()

	listeners, socks, err := plan.listen(cfg.SocketGID, cfg.Log)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(cfg.ExecRoot, "engined.pid")
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	defer os.Remove(pidFile)

	srv := &http.Server{
		Handler:           api.New(d, api.Config{Version: cfg.Version, Commit: cfg.Commit, DataRoot: cfg.DataRoot, Log: cfg.Log, Userns: remap != nil}),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errc <- srv.Serve(l) }()
	}
	cfg.Log.Info("engined listening", "hosts", cfg.Hosts, "supervisor", cfg.Supervisor)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.Log.Info("engined shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	for _, p := range socks {
		os.Remove(p)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
		return nil
	}
	return err
}

// Listen creates the unix socket at path (replacing a stale one), root:gid
// mode 0660.
func Listen(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := sockperm.Apply(path, gid); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
