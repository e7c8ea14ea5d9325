package cli

import (
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// forEach runs fn for each argument, printing failures like docker and
// failing at the end if any failed.
func forEach(c *CLI, args []string, fn func(string) error) error {
	var failed []string
	for _, a := range args {
		if err := fn(a); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		fmt.Fprintln(c.Out, a)
	}
	if len(failed) > 0 {
		return &StatusError{Code: 1, Msg: strings.Join(failed, "\n")}
	}
	return nil
}

func newStartCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(id string) error {
				_, err := cl.ContainerStart(cmd.Context(), id, client.ContainerStartOptions{})
				return err
			})
		},
	}
}
