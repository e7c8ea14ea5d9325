package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newKillCommand(c *CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerKill(cmd.Context(), id, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "signal to send to the container (default KILL)")
	return cmd
}
