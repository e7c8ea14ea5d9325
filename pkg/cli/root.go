// Package cli is ctl, berth's docker-style command line. It talks to engined
// over the Docker Engine API with the official Docker Go client; one file per
// subcommand, each a cobra command other tools can reuse.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berthd/berth/pkg/trace"
)

// DefaultHost is engined's default socket.
const DefaultHost = "unix:///run/berth/engined.sock"

// HostEnv overrides the default host, before DOCKER_HOST.
const HostEnv = "BERTH_HOST"

// Version of ctl.
var Version = "0.1.0-dev"

// CLI holds the global options and the streams.
type CLI struct {
	Host     string
	TLS      TLSOptions
	Out, Err io.Writer
	In       io.Reader
	client   *client.Client
	// negotiated is closed when a negotiation started by connectAhead
	// ends (nil: none was started).
	negotiated chan struct{}
	// headers are sent with every request (build's secrets); set
	// before the first Client call.
	headers map[string]string
	trace   *trace.Trace // run --trace (nil: untraced)
	// The global flags other than the host and TLS.
	configDir, context, logLevel string
	debug                        bool
}

// StatusError ends ctl with Code, after printing Msg (if any) on stderr.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Client connects to engined (once), negotiating the API version at the
// first request, or waiting for the negotiation connectAhead started.
func (c *CLI) Client() (*client.Client, error) {
	if c.client == nil {
		return c.newClient()
	}
	if c.negotiated != nil {
		<-c.negotiated
	}
	return c.client, nil
}

// connectAhead makes the client and starts its API version negotiation (a
// ping, whose first round trip is 1.5-3 ms here, most of it waiting) in
// the background, for a command with work of its own before its first
// request: run and create parse their hundred flags and build the create
// request's JSON encoder meanwhile. Their first request gets the client
// from Client, which waits for the negotiation: a request made while it
// runs would ping once more. A failed ping leaves the version to be
// negotiated at that request, which then reports the error.
func (c *CLI) connectAhead() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	cl, err := c.newClient()
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	c.negotiated = done
	go func() {
		defer close(done)
		_, _ = cl.Ping(context.Background(), client.PingOptions{NegotiateAPIVersion: true})
	}()
	return cl, nil
}

// newClient makes the client of the host and TLS options.
func (c *CLI) newClient() (*client.Client, error) {
	host := c.Host
	if host == "" {
		host = os.Getenv(HostEnv)
	}
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = DefaultHost
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	hc, err := c.TLS.httpClient()
	if err != nil {
		return nil, err
	}
	if hc != nil {
		opts = append(opts, client.WithHTTPClient(hc))
	}
	if len(c.headers) > 0 {
		opts = append(opts, client.WithHTTPHeaders(c.headers))
	}
	opts = append(opts, c.traceOpts()...)
	if c.debug {
		opts = append(opts, client.WithHTTPResponseHook(func(resp *http.Response) {
			fmt.Fprintf(c.Err, "DEBU %s %s: %s\n", resp.Request.Method, resp.Request.URL.RequestURI(), resp.Status)
		}))
	}
	cl, err := client.New(append(opts, client.WithHost(host))...)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// NewRootCommand returns ctl's root command with every subcommand.
func NewRootCommand(c *CLI) *cobra.Command {
	root := newRoot(c)
	for _, sc := range subcommands {
		root.AddCommand(sc.make(c))
	}
	return finishRoot(root)
}

// newRootCommandFor returns the root command with only the subcommand
// args name, when it names one: building the whole tree (the flag sets
// of run and create alone have over a hundred flags) was most of ctl's
// start-up CPU. Anything else (help, a typo, no command) gets every
// subcommand, for cobra's help and suggestions.
func newRootCommandFor(c *CLI, args []string) *cobra.Command {
	root := newRoot(c)
	name := commandWord(root, args)
	for _, sc := range subcommands {
		if name != "" && (sc.name == name || slices.Contains(sc.aliases, name)) {
			root.AddCommand(sc.make(c))
			return finishRoot(root)
		}
	}
	for _, sc := range subcommands {
		root.AddCommand(sc.make(c))
	}
	return finishRoot(root)
}

// commandWord is the first argument that is not a global flag or its
// value ("" when a flag is not the root's: cobra will tell).
func commandWord(root *cobra.Command, args []string) string {
	fs := root.Flags()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			if a == "--" {
				return ""
			}
			return a
		}
		if strings.Contains(a, "=") {
			continue
		}
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") {
			f = fs.Lookup(a[2:])
		} else if len(a) == 2 {
			f = fs.ShorthandLookup(a[1:])
		}
		if f == nil {
			return ""
		}
		if f.NoOptDefVal == "" { // takes a value: the next argument
			i++
		}
	}
	return ""
}

// subcommands are ctl's commands by name and aliases, made only when used
// (TestSubcommandNames keeps the names true).
var subcommands = []struct {
	name    string
	aliases []string
	make    func(*CLI) *cobra.Command
}{
	{"load", nil, newLoadCommand}, {"images", []string{"ls"}, newImagesCommand},
	{"rmi", nil, newRmiCommand}, {"pull", nil, newPullCommand}, {"push", nil, newPushCommand},
	{"tag", nil, newTagCommand}, {"history", nil, newHistoryCommand}, {"save", nil, newSaveCommand},
	{"export", nil, newExportCommand}, {"cp", nil, newCpCommand}, {"commit", nil, newCommitCommand},
	{"diff", nil, newDiffCommand}, {"import", nil, newImportCommand}, {"image", nil, newImageCommand},
	{"system", nil, newSystemCommand},
	{"run", nil, newRunCommand}, {"create", nil, newCreateCommand}, {"start", nil, newStartCommand},
	{"ps", nil, newPsCommand}, {"logs", nil, newLogsCommand}, {"rm", nil, newRmCommand},
	{"stop", nil, newStopCommand}, {"restart", nil, newRestartCommand}, {"kill", nil, newKillCommand},
	{"wait", nil, newWaitCommand}, {"inspect", nil, newInspectCommand}, {"attach", nil, newAttachCommand},
	{"exec", nil, newExecCommand}, {"pause", nil, newPauseCommand}, {"unpause", nil, newUnpauseCommand},
	{"top", nil, newTopCommand}, {"stats", nil, newStatsCommand}, {"events", nil, newEventsCommand},
	{"version", nil, newVersionCommand}, {"info", nil, newInfoCommand}, {"container", nil, newContainerCommand},
	{"rename", nil, newRenameCommand}, {"update", nil, newUpdateCommand}, {"port", nil, newPortCommand},
	{"volume", nil, newVolumeCommand}, {"network", nil, newNetworkCommand}, {"build", nil, newBuildCommand},
}

// newRoot is the root command with its global flags, no subcommand.
func newRoot(c *CLI) *cobra.Command {
	root := &cobra.Command{
		Use:           "ctl [OPTIONS] COMMAND",
		Short:         "Command line of the berth container engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	// As docker: a bad flag or value is status 125, with the usage line.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &StatusError{Code: 125, Msg: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath())}
	})
	// Global flags come before the command, as docker's: they are the
	// root's own, not inherited (`ctl history -H` is --human, as
	// `docker history -H`), and TraverseChildren parses them on the way
	// to the command.
	root.TraverseChildren = true
	f := root.Flags()
	f.VarP((*hostFlag)(&c.Host), "host", "H", "engine to connect to: unix://PATH or tcp://HOST:PORT (default $"+HostEnv+", $DOCKER_HOST or "+DefaultHost+")")
	f.StringVar(&c.configDir, "config", "", "location of client config files (default $DOCKER_CONFIG, else ~/.docker)")
	f.StringVarP(&c.context, "context", "c", "", `name of the context to use: ctl has only docker's "default" (-H, $`+HostEnv+`, $DOCKER_HOST)`)
	f.BoolVarP(&c.debug, "debug", "D", false, "enable debug mode: each API request and its answer's status on stderr")
	f.StringVarP(&c.logLevel, "log-level", "l", "info", `set the logging level ("debug", "info", "warn", "error", "fatal")`)
	addTLSFlags(root, &c.TLS)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return c.globalsParsed(root.Flags()) }
	return root
}

// hostFlag is -H: docker's is a list that takes one engine only, and a
// second -H is refused rather than silently winning over the first.
type hostFlag string

func (h *hostFlag) Set(v string) error {
	if *h != "" {
		return errors.New("specify only one -H")
	}
	*h = hostFlag(v)
	return nil
}

func (h *hostFlag) String() string { return string(*h) }
func (h *hostFlag) Type() string   { return "list" }

// globalsParsed applies the global flags once parsed.
func (c *CLI) globalsParsed(f *pflag.FlagSet) error {
	c.TLS.tlsParsed(f)
	if c.configDir != "" {
		// Read where the docker CLI reads it (dockerConfigFile).
		os.Setenv("DOCKER_CONFIG", c.configDir)
	}
	if f.Changed("context") {
		if f.Changed("host") {
			return &StatusError{Code: 1, Msg: "conflicting options: cannot specify both --host and --context"}
		}
		if c.context != "default" {
			return &StatusError{Code: 1, Msg: fmt.Sprintf("context %q: ctl has no contexts but docker's \"default\" (the engine of -H, $%s or $DOCKER_HOST)", c.context, HostEnv)}
		}
	}
	switch c.logLevel {
	case "debug":
		c.debug = true
	case "info", "warn", "error", "fatal":
	default:
		return &StatusError{Code: 1, Msg: fmt.Sprintf("unable to parse logging level: %s (want debug, info, warn, error or fatal)", c.logLevel)}
	}
	return nil
}

// finishRoot gives every command docker's usage lines, without cobra's
// " [flags]".
func finishRoot(root *cobra.Command) *cobra.Command {
	var noFlagsInUse func(*cobra.Command)
	noFlagsInUse = func(cmd *cobra.Command) {
		cmd.DisableFlagsInUseLine = true
		for _, sub := range cmd.Commands() {
			noFlagsInUse(sub)
		}
	}
	noFlagsInUse(root)
	return root
}

// Main runs ctl with args and returns the exit code.
func Main(args []string) int {
	c := &CLI{Out: os.Stdout, Err: os.Stderr, In: os.Stdin}
	root := newRootCommandFor(c, args)
	root.SetArgs(args)
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	err := root.ExecuteContext(context.Background())
	if c.client != nil {
		c.client.Close()
	}
	if err == nil {
		return 0
	}
	return exitCode(c, err)
}

// exitCode prints err as docker does and returns the exit code.
func exitCode(c *CLI, err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		if se.Msg != "" {
			fmt.Fprintln(c.Err, se.Msg)
		}
		return se.Code
	}
	fmt.Fprintln(c.Err, err)
	return 1
}
