// Command engined serves the Docker Engine API on a unix socket, on top of
// supervisord.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berthd/berth/pkg/engine"
)

var version = "0.1.0-dev"

func main() {
	cfg := engine.Config{Version: version}
	var level string
	cmd := &cobra.Command{
		Use:           "engined",
		Short:         "Docker Engine API server of berth",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level %q: %w", level, err)
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return engine.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.Host, "host", "H", engine.DefaultHost, "socket to listen on (unix://PATH)")
	f.StringVar(&cfg.DataRoot, "data-root", engine.DefaultDataRoot, "persistent state")
	f.StringVar(&cfg.ExecRoot, "exec-root", engine.DefaultExecRoot, "runtime state")
	f.StringVar(&cfg.Supervisor, "supervisor", engine.DefaultSupervisor, "supervisord socket (unix://PATH)")
	f.IntVar(&cfg.SocketGID, "group-id", 0, "group owning the API socket (0: root)")
	f.StringVar(&cfg.InitPath, "init-path", "", "path to the docker-init binary (default: docker-init or tini-static on the PATH)")
	f.BoolVar(&cfg.Init, "init", false, "run an init inside containers to forward signals and reap processes")
	f.StringVar(&cfg.DefaultBridge, "default-bridge", "berth0", "bridge of the default network (created when missing)")
	f.StringVar(&cfg.NFTable, "nft-table", "berth", "nftables table (family ip) holding the engine's NAT and filter rules")
	f.StringVarP(&level, "log-level", "l", "info", "debug, info, warn or error")
	cmd.Version = version
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "engined:", err)
		os.Exit(1)
	}
}
