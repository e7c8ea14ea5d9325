package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newStopCommand(c *CLI) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ContainerStopOptions{}
			if cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerStop(cmd.Context(), id, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}
