package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// stopFlags are the flags stop and restart share: the signal and the
// grace period before SIGKILL.
type stopFlags struct {
	signal  string
	timeout int
}

func (s *stopFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&s.signal, "signal", "s", "", "signal to send to the container (default: its stop signal, else SIGTERM)")
	f.IntVarP(&s.timeout, "timeout", "t", 0, "seconds to wait before killing the container (default: its stop timeout, else 10)")
	// docker's old name, kept working as docker keeps it.
	f.IntVar(&s.timeout, "time", 0, "seconds to wait before killing the container")
	f.MarkDeprecated("time", "use --timeout instead")
}

// values are the signal and the timeout, nil when neither flag was given:
// the container's own stop timeout applies then.
func (s *stopFlags) values(cmd *cobra.Command) (string, *int) {
	if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
		t := s.timeout
		return s.signal, &t
	}
	return s.signal, nil
}

func newStopCommand(c *CLI) *cobra.Command {
	var sf stopFlags
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var opts client.ContainerStopOptions
			opts.Signal, opts.Timeout = sf.values(cmd)
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerStop(cmd.Context(), id, opts)
				return err
			})
		},
	}
	sf.add(cmd)
	return cmd
}
