package cli

import (
	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func startCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "start the process of a created container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return container.Start(g.root, args[0])
		},
	}
}
