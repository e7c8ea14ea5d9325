package cli

import (
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newRmiCommand(c *CLI) *cobra.Command {
	var force, noPrune bool
	var platforms []string
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ps []ocispec.Platform
			for _, v := range platforms {
				p, err := parsePlatform(v)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var failed []string
			for _, ref := range args {
				res, err := cl.ImageRemove(cmd.Context(), ref, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune, Platforms: ps})
				if err != nil {
					failed = append(failed, err.Error())
					continue
				}
				for _, d := range res.Items {
					if d.Untagged != "" {
						fmt.Fprintln(c.Out, "Untagged:", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintln(c.Out, "Deleted:", d.Deleted)
					}
				}
			}
			if len(failed) > 0 {
				return &StatusError{Code: 1, Msg: strings.Join(failed, "\n")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "do not delete untagged parents")
	cmd.Flags().StringSliceVar(&platforms, "platform", nil, `remove only the given platform variant, as "os[/arch[/variant]]" (e.g., "linux/amd64"); repeat or separate by commas for several`)
	return cmd
}
