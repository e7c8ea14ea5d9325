// Package cli is ctl, berth's docker-style command line. It talks to engined
// over the Docker Engine API with the official Docker Go client; one file per
// subcommand, each a cobra command other tools can reuse.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
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
	// headers are sent with every request (build's secrets); set
	// before the first Client call.
	headers map[string]string
}

// StatusError ends ctl with Code, after printing Msg (if any) on stderr.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Client connects to engined (once), negotiating the API version.
func (c *CLI) Client() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
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
	cl, err := client.New(append(opts, client.WithHost(host))...)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// NewRootCommand returns ctl's root command with every subcommand.
func NewRootCommand(c *CLI) *cobra.Command {
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
	root.PersistentFlags().StringVarP(&c.Host, "host", "H", "", "engine to connect to: unix://PATH or tcp://HOST:PORT (default $"+HostEnv+", $DOCKER_HOST or "+DefaultHost+")")
	addTLSFlags(root, &c.TLS)
	root.AddCommand(
		newLoadCommand(c),
		newImagesCommand(c),
		newRmiCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newTagCommand(c),
		newHistoryCommand(c),
		newSaveCommand(c),
		newExportCommand(c),
		newCpCommand(c),
		newCommitCommand(c),
		newDiffCommand(c),
		newImportCommand(c),
		newImageCommand(c),
		newSystemCommand(c),
		newRunCommand(c),
		newCreateCommand(c),
		newStartCommand(c),
		newPsCommand(c),
		newLogsCommand(c),
		newRmCommand(c),
		newStopCommand(c),
		newRestartCommand(c),
		newKillCommand(c),
		newWaitCommand(c),
		newInspectCommand(c),
		newAttachCommand(c),
		newExecCommand(c),
		newPauseCommand(c),
		newUnpauseCommand(c),
		newTopCommand(c),
		newStatsCommand(c),
		newEventsCommand(c),
		newVersionCommand(c),
		newInfoCommand(c),
		newContainerCommand(c),
		newRenameCommand(c),
		newUpdateCommand(c),
		newPortCommand(c),
		newVolumeCommand(c),
		newNetworkCommand(c),
		newBuildCommand(c),
	)
	// Usage lines as docker prints them, without cobra's " [flags]".
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
	root := NewRootCommand(c)
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
