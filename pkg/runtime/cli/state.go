package cli

import (
	"encoding/json"
	"os"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func stateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "print the OCI state of a container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := container.Load(g.root, args[0])
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(s.OCIState(), "", "  ")
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		},
	}
}
