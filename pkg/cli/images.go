package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newImagesCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:   "images [OPTIONS]",
		Short: "List images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImageList(cmd.Context(), client.ImageListOptions{})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			}
			for _, img := range res.Items {
				id := img.ID
				if !noTrunc {
					id = shortID(strings.TrimPrefix(id, "sha256:"))
				}
				if quiet {
					fmt.Fprintln(tw, id)
					continue
				}
				created := units.HumanDuration(time.Since(time.Unix(img.Created, 0))) + " ago"
				size := units.HumanSizeWithPrecision(float64(img.Size), 3)
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					repo, tag := "<none>", "<none>"
					if named, err := reference.ParseNormalizedNamed(t); err == nil {
						repo = reference.FamiliarName(named)
						if tagged, ok := named.(reference.Tagged); ok {
							tag = tagged.Tag()
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id, created, size)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
