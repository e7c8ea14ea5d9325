// Package supervisord is the supervisord command: berth's container
// supervisor (content, images, snapshots, containers and tasks over gRPC;
// docs/supervisor.md). cmd/supervisord runs it, and so does cmd/berthd, the
// one executable both daemons are installed from (docs/decisions.md).
package supervisord

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/berthd/berth/pkg/cri"
	"github.com/berthd/berth/pkg/sockperm"
	"github.com/berthd/berth/pkg/supervisor"
)

// Main runs supervisord with args (its flags, without the program name)
// and exits the process with its status.
func Main(args []string) {
	fs := flag.NewFlagSet("supervisord", flag.ExitOnError)
	var (
		cfg       supervisor.Config
		logLevel  string
		version   bool
		runtimes  []supervisor.Runtime
		criAddr   string
		criCNI    string
		criCNIBin string
		pause     string
		group     string
	)
	fs.StringVar(&cfg.Root, "root", "/var/lib/berth/supervisor", "directory of persistent data")
	fs.StringVar(&cfg.State, "state", "/run/berth/supervisor", "directory of runtime state")
	fs.StringVar(&cfg.Address, "address", "/run/berth/supervisord.sock", "unix socket to serve the API on")
	groupHelp := "group of the socket, a name or gid (mode 0660; root's only when the default group does not exist)"
	fs.StringVar(&group, "G", sockperm.DefaultGroup, groupHelp)
	fs.StringVar(&group, "group", sockperm.DefaultGroup, groupHelp)
	fs.StringVar(&cfg.RuntimePath, "runtime-path", "", "path of berth's runtime (default: `runtime` next to this binary)")
	fs.StringVar(&cfg.ShimBinary, "shim-path", "", "path of the shim (default: `shim` next to this binary)")
	fs.StringVar(&cfg.DefaultRuntime, "default-runtime", "", "default runtime name (default: berth)")
	fs.Func("runtime", "register a runtime: NAME=PATH[,ARG...] (repeatable; adds to berth, runc and crun, or replaces the one of that name)", func(v string) error {
		r, err := supervisor.ParseRuntime(v)
		if err == nil {
			runtimes = append(runtimes, r)
		}
		return err
	})
	fs.Func("registry-mirror", "a mirror tried before a registry: HOST=URL, or URL for docker.io (repeatable)", func(v string) error {
		host, u, ok := strings.Cut(v, "=")
		if !ok {
			host, u = "docker.io", v
		}
		if cfg.Distribution.Mirrors == nil {
			cfg.Distribution.Mirrors = map[string][]string{}
		}
		cfg.Distribution.Mirrors[host] = append(cfg.Distribution.Mirrors[host], u)
		return nil
	})
	fs.Func("insecure-registry", "a registry HOST[:PORT] that may be reached over plain HTTP (repeatable; localhost always may)", func(v string) error {
		cfg.Distribution.Insecure = append(cfg.Distribution.Insecure, v)
		return nil
	})
	fs.StringVar(&cfg.Distribution.CertsDir, "certs-dir", "/etc/docker/certs.d", "extra registry CAs: DIR/HOST[:PORT]/ca.crt")
	fs.StringVar(&cfg.Distribution.DockerConfig, "docker-config", "", "docker config.json with registry credentials (default: $DOCKER_CONFIG/config.json)")
	fs.StringVar(&cfg.Snapshotter, "snapshotter", "overlayfs", "overlayfs (falls back to native when overlayfs does not mount in --root) or native (copies)")
	fs.StringVar(&criAddr, "cri-address", "", "unix socket to serve Kubernetes' CRI on, in namespace k8s.io (\"\" serves none; e.g. /run/berth/cri.sock)")
	fs.StringVar(&criCNI, "cni-conf-dir", cri.DefaultCNIConfDir, "CNI network configurations of the CRI's pods")
	fs.StringVar(&criCNIBin, "cni-bin-dir", strings.Join(cri.DefaultCNIBinDirs, ":"), "CNI plugin directories of the CRI's pods (colon separated)")
	fs.StringVar(&pause, "pause-path", "", "static pause program of the CRI's pod sandboxes (default: `pause` next to this binary)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	_ = fs.Parse(args) // ExitOnError: a bad flag exits 2 with the usage
	if version {
		fmt.Println("supervisord", supervisor.Version, supervisor.Revision)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "supervisord: --log-level:", err)
		os.Exit(2)
	}
	if len(runtimes) > 0 {
		cfg.Runtimes = supervisor.DefaultRuntimes(cfg.RuntimePath)
		for _, r := range runtimes {
			replaced := false
			for i := range cfg.Runtimes {
				if cfg.Runtimes[i].Name == r.Name {
					cfg.Runtimes[i], replaced = r, true
				}
			}
			if !replaced {
				cfg.Runtimes = append(cfg.Runtimes, r)
			}
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "G" || f.Name == "group" })
	gid, note, err := sockperm.Group(group, explicit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervisord:", err)
		os.Exit(2)
	}
	if note != "" {
		cfg.Logger.Warn(note)
	}
	cfg.SocketGID = gid

	s, err := supervisor.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervisord:", err)
		os.Exit(1)
	}
	// SIGTERM/SIGINT stop serving; shims and containers keep running.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Logger.Info("supervisord serving", "address", cfg.Address, "root", cfg.Root, "state", cfg.State)
	criDone := make(chan error, 1)
	if criAddr != "" {
		c, err := cri.New(cri.Config{
			Address: criAddr, Supervisor: cfg.Address, SupervisorRoot: cfg.Root,
			RuntimeVersion: supervisor.Version, Logger: cfg.Logger,
			State: filepath.Join(cfg.State, "cri"), PauseBinary: pausePath(pause),
			CNIConfDir: criCNI, CNIBinDirs: filepath.SplitList(criCNIBin),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "supervisord:", err)
			os.Exit(1)
		}
		defer c.Close()
		go func() {
			cfg.Logger.Info("CRI serving", "address", criAddr)
			if err := c.Serve(ctx); err != nil {
				cfg.Logger.Error("CRI server stopped", "err", err)
				criDone <- err
				stop()
			}
		}()
	}
	err = s.Serve(ctx)
	select {
	case cerr := <-criDone:
		if err == nil {
			err = cerr
		}
	default:
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervisord:", err)
		os.Exit(1)
	}
}

// pausePath is the --pause-path, else pause next to this binary.
func pausePath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	exe, err := os.Executable()
	if err != nil {
		return "pause"
	}
	return filepath.Join(filepath.Dir(exe), "pause")
}
