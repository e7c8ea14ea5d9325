package cli

import (
	"fmt"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func killCommand(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "send a signal (default SIGTERM) to the container's init",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("kill: expected ID [SIGNAL]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = container.ParseSignal(args[1]); err != nil {
					return err
				}
			}
			return container.Kill(g.root, args[0], sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "signal every process in the container's cgroup")
	return cmd
}
