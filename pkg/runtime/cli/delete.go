package cli

import (
	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func deleteCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [--force] ID",
		Short: "delete a stopped or created container (--force: also a running one)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return container.Delete(g.root, args[0], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}
