package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

type listEntry struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

func listCommand(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			states, err := container.List(g.root)
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range states {
					fmt.Println(s.ID)
				}
				return nil
			}
			switch format {
			case "json":
				out := []listEntry{}
				for _, s := range states {
					st := s.OCIState()
					out = append(out, listEntry{st.Version, st.ID, st.Pid, string(st.Status), st.Bundle, s.Rootfs, s.Created, st.Annotations, "root"})
				}
				b, err := json.Marshal(out)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(append(b, '\n'))
				return err
			case "table", "":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					st := s.OCIState()
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, s.Created.Format(time.RFC3339Nano), "root")
				}
				return w.Flush()
			default:
				return fmt.Errorf("invalid --format %q (table or json)", format)
			}
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only ids")
	return cmd
}
