package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInspectCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect CONTAINER [CONTAINER...]",
		Short: "Return low-level information on containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var out []json.RawMessage
			var failed []string
			for _, id := range args {
				res, err := cl.ContainerInspect(cmd.Context(), id, client.ContainerInspectOptions{})
				if err != nil {
					failed = append(failed, err.Error())
					continue
				}
				out = append(out, res.Raw)
			}
			if out == nil {
				out = []json.RawMessage{}
			}
			data, err := json.Marshal(out)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, data, "", "    "); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, buf.String())
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		},
	}
}
