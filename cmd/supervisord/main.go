// Command supervisord is berth's container supervisor: content, images,
// snapshots, containers and tasks over gRPC. See docs/supervisor.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthd/berth/pkg/supervisor"
)

func main() {
	var (
		cfg      supervisor.Config
		logLevel string
		version  bool
	)
	flag.StringVar(&cfg.Root, "root", "/var/lib/berth/supervisor", "directory of persistent data")
	flag.StringVar(&cfg.State, "state", "/run/berth/supervisor", "directory of runtime state")
	flag.StringVar(&cfg.Address, "address", "/run/berth/supervisord.sock", "unix socket to serve the API on")
	flag.StringVar(&cfg.RuntimePath, "runtime-path", "", "path of berth's runtime (default: `runtime` next to this binary)")
	flag.StringVar(&cfg.ShimBinary, "shim-path", "", "path of the shim (default: `shim` next to this binary)")
	flag.StringVar(&cfg.DefaultRuntime, "default-runtime", "", "default runtime name (default: berth)")
	flag.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	flag.BoolVar(&version, "version", false, "print the version and exit")
	flag.Parse()
	if version {
		fmt.Println("supervisord", supervisor.Version, supervisor.Revision)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "supervisord: --log-level:", err)
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	s, err := supervisor.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervisord:", err)
		os.Exit(1)
	}
	// SIGTERM/SIGINT stop serving; shims and containers keep running.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Logger.Info("supervisord serving", "address", cfg.Address, "root", cfg.Root, "state", cfg.State)
	err = s.Serve(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervisord:", err)
		os.Exit(1)
	}
}
