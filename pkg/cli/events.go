package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newEventsCommand(c *CLI) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, kv := range filters {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("bad format of filter (expected name=value)")
				}
				f.Add(k, v)
			}
			if format == "json" {
				format = "{{json .}}"
			}
			var tmpl *template.Template
			if format != "" {
				// Unlike the listing commands, docker gives events no
				// "table" form and no \t escapes: the template is used as
				// is, and tried on an empty event before any is awaited.
				tmpl, err = template.New("").Funcs(templateFuncs).Parse(format)
				if err == nil {
					err = tmpl.Execute(io.Discard, event{})
				}
				if err != nil {
					return &StatusError{Code: 64, Msg: "Error parsing format: " + err.Error()}
				}
			}
			res := cl.Events(cmd.Context(), client.EventsListOptions{Since: since, Until: until, Filters: f})
			for {
				select {
				case m := <-res.Messages:
					if tmpl != nil {
						if err := tmpl.Execute(c.Out, eventView(m)); err != nil {
							return fmt.Errorf("failed to execute template: %w", err)
						}
						fmt.Fprintln(c.Out)
						continue
					}
					var attrs []string
					for k, v := range m.Actor.Attributes {
						attrs = append(attrs, k+"="+v)
					}
					sort.Strings(attrs)
					fmt.Fprintf(c.Out, "%s %s %s %s (%s)\n", time.Unix(0, m.TimeNano).Format(eventTimeFormat), m.Type, m.Action, m.Actor.ID, strings.Join(attrs, ", "))
				case err := <-res.Err:
					if err == nil || cmd.Context().Err() != nil || strings.Contains(err.Error(), "EOF") {
						return nil
					}
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "stream events until this timestamp")
	cmd.Flags().StringVar(&format, "format", "", "format output using a custom template: 'json', 'TEMPLATE'")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output based on conditions provided")
	return cmd
}

// eventTimeFormat keeps all nine digits of the nanoseconds, so that the
// lines stay aligned, as docker's do.
const eventTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// event is what an events --format template sees: the engine's message
// with the fields docker still offers from before API 1.22, always empty
// now but valid in templates written for them.
type event struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func eventView(m events.Message) event { return event{Message: m} }
