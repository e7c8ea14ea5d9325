package cli

import (
	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func pauseCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause ID",
		Short: "freeze every process of a running container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return container.Pause(g.root, args[0])
		},
	}
}

func resumeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ID",
		Short: "thaw a paused container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return container.Resume(g.root, args[0])
		},
	}
}
