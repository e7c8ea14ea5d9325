package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

func newHistoryCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	human := true
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []row
			for _, h := range res.Items {
				id := h.ID
				if !noTrunc && strings.HasPrefix(id, "sha256:") {
					id = shortID(strings.TrimPrefix(id, "sha256:"))
				}
				createdBy := strings.ReplaceAll(h.CreatedBy, "\t", " ")
				if !noTrunc && len([]rune(createdBy)) > 45 {
					createdBy = string([]rune(createdBy)[:44]) + "…"
				}
				r := row{"ID": id, "CreatedBy": createdBy, "Comment": h.Comment}
				created := time.Unix(h.Created, 0)
				if human {
					r["CreatedSince"] = units.HumanDuration(time.Since(created)) + " ago"
					r["Size"] = units.HumanSizeWithPrecision(float64(h.Size), 3)
				} else {
					r["CreatedSince"] = created.Format(time.RFC3339)
					r["Size"] = strconv.FormatInt(h.Size, 10)
				}
				r["CreatedAt"] = created.Format(time.RFC3339)
				rows = append(rows, r)
			}
			if quiet {
				format = "{{.ID}}"
			}
			headers := row{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
			return printRows(c.Out, format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", headers, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVar(&human, "human", true, "print sizes and dates in human readable format (-H of docker: taken by --host here)")
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template")
	return cmd
}
