package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect CONTAINER [CONTAINER...]",
		Short: "Return low-level information on containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return printInspect(c, format, args, func(id string) (json.RawMessage, error) {
				res, err := cl.ContainerInspect(cmd.Context(), id, client.ContainerInspectOptions{})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output using the given Go template")
	return cmd
}

// printInspect prints the objects get returns for ids as docker's inspect
// commands do: an indented JSON array, or the template applied to each
// (it sees the JSON document, so field names are the API's). The errors
// of the ids that failed come last, after the others were printed.
func printInspect(c *CLI, format string, ids []string, get func(string) (json.RawMessage, error)) error {
	var tmpl *template.Template
	if format != "" {
		var err error
		if tmpl, err = template.New("").Funcs(templateFuncs).Parse(format); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	out := []json.RawMessage{}
	var failed []string
	for _, id := range ids {
		raw, err := get(id)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		if tmpl == nil {
			out = append(out, raw)
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, v); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(c.Out, buf.String())
	}
	if tmpl == nil {
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "    "); err != nil {
			return err
		}
		fmt.Fprintln(c.Out, buf.String())
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "\n"))
	}
	return nil
}
