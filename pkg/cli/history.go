package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newHistoryCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	human := true
	var format, platform string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platformOption(platform)
			if err != nil {
				return fmt.Errorf("invalid platform: %w", err)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var opts []client.ImageHistoryOption
			if p != nil {
				opts = append(opts, client.ImageHistoryWithPlatform(*p))
			}
			res, err := cl.ImageHistory(cmd.Context(), args[0], opts...)
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
			if !human {
				// The column then holds a date, as docker heads it.
				headers["CreatedSince"] = "CREATED AT"
			}
			return printRows(c.Out, format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", headers, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&human, "human", "H", true, "print sizes and dates in human readable format")
	cmd.Flags().StringVar(&platform, "platform", "", `show history for the given platform, as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template")
	return cmd
}
