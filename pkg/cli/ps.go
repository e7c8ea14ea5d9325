package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPsCommand(c *CLI) *cobra.Command {
	var all, quiet, noTrunc bool
	var last int
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, kv := range filterArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("bad format of filter (expected name=value)")
				}
				f.Add(k, v)
			}
			res, err := cl.ContainerList(cmd.Context(), client.ContainerListOptions{All: all, Limit: last, Filters: f})
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range res.Items {
					id := s.ID
					if !noTrunc {
						id = shortID(id)
					}
					fmt.Fprintln(c.Out, id)
				}
				return nil
			}
			tw := tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			for _, s := range res.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
					truncIf(s.ID, 12, !noTrunc), s.Image, psCommand(s, noTrunc),
					units.HumanDuration(time.Since(time.Unix(s.Created, 0)))+" ago",
					s.Status, "", psNames(s))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.IntVarP(&last, "last", "n", -1, "show n last created containers (includes all states)")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "filter output based on conditions (id, name, status, label, exited, ancestor)")
	return cmd
}

func truncIf(s string, n int, trunc bool) string {
	if trunc && len(s) > n {
		return s[:n]
	}
	return s
}

// psCommand is docker's quoted, ellipsised COMMAND column.
func psCommand(s container.Summary, noTrunc bool) string {
	cmd := s.Command
	if !noTrunc && len([]rune(cmd)) > 20 {
		cmd = string([]rune(cmd)[:19]) + "…"
	}
	return strconv.Quote(cmd)
}

func psNames(s container.Summary) string {
	var names []string
	for _, n := range s.Names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") { // links look like /a/b
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}
