package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRestartCommand(c *CLI) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ContainerRestartOptions{}
			if cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerRestart(cmd.Context(), id, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}
