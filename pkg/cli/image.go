package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newImageCommand is `ctl image ...`, the management command docker has
// beside the short forms (pull, images, rmi...).
func newImageCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCommand(c)
	rm.Use, rm.Aliases = "rm [OPTIONS] IMAGE [IMAGE...]", []string{"remove"}
	cmd.AddCommand(
		newImageInspectCommand(c),
		newImagePruneCommand(c),
		ls, rm,
		newPullCommand(c),
		newPushCommand(c),
		newTagCommand(c),
		newHistoryCommand(c),
		newSaveCommand(c),
		newLoadCommand(c),
		newImportCommand(c),
	)
	return cmd
}

func newImageInspectCommand(c *CLI) *cobra.Command {
	var format, platform string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platformOption(platform)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var opts []client.ImageInspectOption
			if p != nil {
				opts = append(opts, client.ImageInspectWithPlatform(p))
			}
			return printInspect(c, format, args, func(ref string) (json.RawMessage, error) {
				res, err := cl.ImageInspect(cmd.Context(), ref, opts...)
				if err != nil {
					return nil, err
				}
				return json.Marshal(res.InspectResponse)
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template")
	cmd.Flags().StringVar(&platform, "platform", "", `inspect this platform of the image, as "os[/arch[/variant]]": an image that has another is an error`)
	return cmd
}

func newImagePruneCommand(c *CLI) *cobra.Command {
	var all, force bool
	var filterFlags []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			if all {
				f.Add("dangling", "false")
			}
			if !force {
				// No prompt without a terminal: docker asks, we require -f
				// so scripts never hang.
				if !isTerminal(c.Out) {
					return errors.New("image prune needs -f/--force when not run on a terminal")
				}
				fmt.Fprint(c.Out, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ")
				var answer string
				fmt.Fscanln(c.In, &answer)
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImagePrune(cmd.Context(), client.ImagePruneOptions{Filters: f})
			if err != nil {
				return err
			}
			if len(res.Report.ImagesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Images:")
				for _, d := range res.Report.ImagesDeleted {
					if d.Untagged != "" {
						fmt.Fprintln(c.Out, "untagged:", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintln(c.Out, "deleted:", d.Deleted)
					}
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterFlags, "filter", nil, "provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')")
	return cmd
}
