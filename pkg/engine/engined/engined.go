// Package engined is the engined command: the Docker Engine API on a unix
// socket, on top of supervisord. cmd/engined runs it, and so does
// cmd/berthd, the one executable both daemons are installed from
// (docs/decisions.md).
package engined

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berthd/berth/pkg/engine"
	"github.com/berthd/berth/pkg/sockperm"
)

var version = "0.1.0-dev"

// Main runs engined with args (its flags, without the program name) and
// exits the process with its status.
func Main(args []string) {
	cfg := engine.Config{Version: version}
	var level, group string
	var execOpts []string
	cmd := &cobra.Command{
		Use:           "engined",
		Short:         "Docker Engine API server of berth",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			driver, err := engine.ParseExecOpts(execOpts)
			if err != nil {
				return err
			}
			cfg.CgroupDriver = driver
			var l slog.Level
			if err := l.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level %q: %w", level, err)
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
			gid, note, err := sockperm.Group(group, cmd.Flags().Changed("group"))
			if err != nil {
				return err
			}
			if note != "" {
				cfg.Log.Warn(note)
			}
			cfg.SocketGID = gid
			f := cmd.Flags()
			cfg.TLS.Explicit = f.Changed("tls")
			if cfg.TLS.Verify {
				cfg.TLS.TLS = true // --tlsverify implies --tls, as dockerd
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return engine.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&cfg.Hosts, "host", "H", []string{engine.DefaultHost}, "address to serve on, repeatable: unix://PATH, or tcp://HOST[:PORT] (needs --tlsverify, or --tls=false for plain TCP)")
	f.StringVarP(&group, "group", "G", sockperm.DefaultGroup, "group of the unix sockets, a name or gid (mode 0660; root's only when the default group does not exist)")
	certDir := engine.DefaultCertDir()
	f.BoolVar(&cfg.TLS.TLS, "tls", false, "use TLS; implied by --tlsverify (--tls=false: serve tcp:// hosts in plain TCP, insecure)")
	f.BoolVar(&cfg.TLS.Verify, "tlsverify", false, "use TLS and verify the client's certificate against --tlscacert")
	f.StringVar(&cfg.TLS.CACert, "tlscacert", filepath.Join(certDir, "ca.pem"), "trust client certificates signed by this CA only")
	f.StringVar(&cfg.TLS.Cert, "tlscert", filepath.Join(certDir, "cert.pem"), "path to the server's TLS certificate")
	f.StringVar(&cfg.TLS.Key, "tlskey", filepath.Join(certDir, "key.pem"), "path to the server's TLS key")
	f.StringVar(&cfg.DataRoot, "data-root", engine.DefaultDataRoot, "persistent state")
	f.StringVar(&cfg.ExecRoot, "exec-root", engine.DefaultExecRoot, "runtime state")
	f.StringVar(&cfg.Supervisor, "supervisor", engine.DefaultSupervisor, "supervisord socket (unix://PATH)")
	f.StringVar(&cfg.InitPath, "init-path", "", "path to the docker-init binary (default: docker-init or tini-static on the PATH)")
	f.BoolVar(&cfg.Init, "init", false, "run an init inside containers to forward signals and reap processes")
	f.StringVar(&cfg.DefaultBridge, "default-bridge", "berth0", "bridge of the default network (created when missing)")
	f.StringVar(&cfg.NFTable, "nft-table", "berth", "nftables table (family ip) holding the engine's NAT and filter rules")
	f.StringVar(&cfg.UsernsRemap, "userns-remap", "", "user/group setting for user namespaces (default, USER[:GROUP]): containers' root is mapped to its subordinate ids")
	f.StringArrayVar(&execOpts, "exec-opt", nil, "runtime execution option, repeatable: native.cgroupdriver=cgroupfs|systemd (systemd needs supervisord's runtimes run with --systemd-cgroup)")
	f.StringVarP(&level, "log-level", "l", "info", "debug, info, warn or error")
	cmd.Version = version
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "engined:", err)
		os.Exit(1)
	}
}
