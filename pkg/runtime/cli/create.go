package cli

import (
	"errors"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFds                    int
}

func (c *createFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.bundle, "bundle", "b", ".", "path to the bundle directory")
	f.StringVar(&c.pidFile, "pid-file", "", "file to write the init pid to")
	f.StringVar(&c.consoleSocket, "console-socket", "", "unix socket that receives the pty master (process.terminal)")
	f.BoolVar(&c.noPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root")
	f.BoolVar(&c.noNewKeyring, "no-new-keyring", false, "do not create a new session keyring")
	f.IntVar(&c.preserveFds, "preserve-fds", 0, "pass N fds after stdio (3 .. 2+N) on to the container process")
}

func (c *createFlags) opts(g *globals, id string) (container.CreateOpts, error) {
	if c.preserveFds < 0 {
		return container.CreateOpts{}, errors.New("--preserve-fds must not be negative")
	}
	return container.CreateOpts{
		Root: g.root, ID: id, Bundle: c.bundle, PidFile: c.pidFile,
		ConsoleSocket: c.consoleSocket, NoPivot: c.noPivot, NoNewKeyring: c.noNewKeyring, PreserveFds: c.preserveFds,
		SystemdCgroup: g.systemdCgroup,
	}, nil
}

func createCommand(g *globals) *cobra.Command {
	var c createFlags
	cmd := &cobra.Command{
		Use:   "create [flags] ID",
		Short: "create a container (its process waits for start)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The codecs of the bundle's JSON, and init's clone and exec,
			// beside the parsing and the signal set-up.
			container.WarmAhead()
			container.StartInitAheadBeside()
			// A create that fails before it takes the init drops it.
			defer container.DropInitAhead()
			cgroupprime.Start() // placing the process comes a few ms later
			o, err := c.opts(g, args[0])
			if err != nil {
				return err
			}
			_, err = container.Create(o)
			return err
		},
	}
	c.register(cmd)
	return cmd
}
