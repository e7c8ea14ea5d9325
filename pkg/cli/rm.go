package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRmCommand(c *CLI) *cobra.Command {
	var opts client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerRemove(cmd.Context(), id, opts)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Force, "force", "f", false, "force the removal of a running container (uses SIGKILL)")
	f.BoolVarP(&opts.RemoveLinks, "link", "l", false, "remove the specified link (/PARENT/ALIAS), not a container")
	f.BoolVarP(&opts.RemoveVolumes, "volumes", "v", false, "remove anonymous volumes associated with the container")
	return cmd
}
