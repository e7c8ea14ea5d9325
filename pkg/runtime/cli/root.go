// Package cli is the runc-compatible command line of the berth OCI runtime.
// Each subcommand lives in its own file; New returns the root command so other
// tools can embed it.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

// DefaultRoot is where container state lives unless --root says otherwise.
const DefaultRoot = container.DefaultRoot

type globals struct {
	root          string
	logFile       string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
	log           *logger
}

// exitError carries an exit code out of a command without an error message
// (run uses it to return the container's status).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	traceFromEnv()
	// The whole command in this process: with the caller's own timing, what
	// is left is the process's exec, Go start-up and exit.
	endCommand := container.Trace.Begin("command")
	return execute(newTree(), args, endCommand)
}

// tree is a command line ready to run once: its root and its globals.
type tree struct {
	g   *globals
	cmd *cobra.Command
}

func newTree() tree {
	g := &globals{}
	return tree{g: g, cmd: New(g)}
}

// execute runs args with t and returns the process exit code;
// endCommand ends the command's span.
func execute(t tree, args []string, endCommand func()) int {
	g, cmd := t.g, t.cmd
	cmd.SetArgs(args)
	err := cmd.Execute()
	endCommand()
	g.logSpans()
	// A standby runs more commands in this process: each opens its own.
	defer g.log.close()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if g.log == nil {
		g.log = &logger{}
	}
	g.log.errorf("%v", err)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// Version and Commit of the runtime, set at build time with -ldflags -X.
var (
	Version = "0.1.0-dev"
	Commit  = "unknown"
)

// New builds the root command and its subcommands.
func New(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "runtime",
		Short:         "berth OCI runtime (runc-compatible command line)",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			l, err := openLogger(g.logFile, g.logFormat, g.debug)
			if err != nil {
				return err
			}
			g.log = l
			container.Warnf = l.warnf
			if g.rootless == "true" {
				return errors.New("--rootless=true is not supported")
			}
			return nil
		},
	}
	// runc's --version lines: callers (dockerd's info, engined's) read
	// the first for the version and "commit:" for the commit.
	root.Version = Version
	root.SetVersionTemplate(fmt.Sprintf("runtime version {{.Version}}\ncommit: %s\nspec: %s\ngo: %s\n", Commit, specs.Version, goruntime.Version()))
	root.Flags().BoolP("version", "v", false, "print the version")
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", DefaultRoot, "root directory for storage of container state")
	f.StringVar(&g.logFile, "log", "", "log file (default: stderr)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "enable debug logging")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "create and run: have systemd make the container's cgroups (a transient scope; cgroupsPath is slice:prefix:name)")
	f.StringVar(&g.rootless, "rootless", "auto", "ignored unless true (unsupported)")
	root.AddCommand(
		createCommand(g), startCommand(g), stateCommand(g), killCommand(g), deleteCommand(g),
		runCommand(g), listCommand(g), specCommand(g), featuresCommand(g), pauseCommand(g),
		resumeCommand(g), psCommand(g), execCommand(g), updateCommand(g),
	)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

type logger struct {
	f     *os.File
	json  bool
	debug bool
}

func openLogger(path, format string, debug bool) (*logger, error) {
	l := &logger{debug: debug}
	switch format {
	case "text", "":
	case "json":
		l.json = true
	default:
		return nil, fmt.Errorf("invalid --log-format %q (text or json)", format)
	}
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log file: %w", err)
		}
		l.f = f
	}
	return l, nil
}

func (l *logger) close() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}

func (l *logger) write(level, msg string) {
	now := time.Now().UTC().Format(time.RFC3339)
	if l.f == nil {
		// Errors go to stderr from Main; warnings and debug are printed here.
		if level != "error" {
			fmt.Fprintf(os.Stderr, "time=%q level=%s msg=%q\n", now, level, msg)
		}
		return
	}
	if l.json {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		l.f.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(l.f, "time=%q level=%s msg=%q\n", now, level, msg)
}

func (l *logger) errorf(format string, a ...any) { l.write("error", fmt.Sprintf(format, a...)) }
func (l *logger) warnf(format string, a ...any)  { l.write("warning", fmt.Sprintf(format, a...)) }
func (l *logger) debugf(format string, a ...any) {
	if l.debug {
		l.write("debug", fmt.Sprintf(format, a...))
	}
}

func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s: exactly one container id is required", cmd.Name())
	}
	return nil
}
