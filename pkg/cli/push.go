package cli

import (
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPushCommand(c *CLI) *cobra.Command {
	var quiet, all bool
	disableContentTrust := true
	var platform string
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkContentTrust(cmd, disableContentTrust); err != nil {
				return err
			}
			p, err := platformOption(platform)
			if err != nil {
				return fmt.Errorf("invalid platform %s: %w", platform, err)
			}
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference format: %s", args[0])
			}
			if all {
				if _, ok := named.(reference.Tagged); ok {
					return fmt.Errorf("tag can't be used with --all-tags/-a")
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if p != nil {
				// What docker tells too: the registry gets one manifest,
				// not the index.
				fmt.Fprintf(c.Out, "\nNote: --platform pushes the %s manifest alone, as a single-platform image: no image index, nor other parts such as attestations. Leave --platform out to push the whole image.\n\n", platform)
			}
			res, err := cl.ImagePush(cmd.Context(), named.String(), client.ImagePushOptions{All: all, RegistryAuth: registryAuth(named.String()), Platform: p})
			if err != nil {
				return err
			}
			defer res.Close()
			out := c.Out
			if quiet {
				out = discard{}
			}
			if err := displayProgress(res, out, !quiet && isTerminal(c.Out)); err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(c.Out, reference.FamiliarString(named))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress verbose output")
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "push all tags of the repository")
	cmd.Flags().StringVar(&platform, "platform", "", `push the manifest of this platform, as "os[/arch[/variant]]", as a single-platform image`)
	contentTrustFlag(cmd, &disableContentTrust, "skip image signing (false is refused: ctl has no content trust)")
	return cmd
}
