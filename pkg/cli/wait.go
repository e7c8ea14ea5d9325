package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newWaitCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var failed []string
			for _, id := range args {
				w := cl.ContainerWait(cmd.Context(), id, client.ContainerWaitOptions{})
				select {
				case res := <-w.Result:
					if res.Error != nil {
						failed = append(failed, res.Error.Message)
						continue
					}
					fmt.Fprintln(c.Out, res.StatusCode)
				case err := <-w.Error:
					failed = append(failed, err.Error())
				}
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		},
	}
}
