package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRestartCommand(c *CLI) *cobra.Command {
	var sf stopFlags
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var opts client.ContainerRestartOptions
			opts.Signal, opts.Timeout = sf.values(cmd)
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerRestart(cmd.Context(), id, opts)
				return err
			})
		},
	}
	sf.add(cmd)
	return cmd
}
