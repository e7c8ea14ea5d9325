package cli

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newPullCommand(c *CLI) *cobra.Command {
	var quiet, all bool
	var platform string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference format: %s", args[0])
			}
			if !all {
				named = reference.TagNameOnly(named)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ImagePullOptions{All: all, RegistryAuth: registryAuth(named.String())}
			if platform != "" {
				p, err := parsePlatform(platform)
				if err != nil {
					return err
				}
				opts.Platforms = []ocispec.Platform{p}
			}
			res, err := cl.ImagePull(cmd.Context(), named.String(), opts)
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
			} else {
				fmt.Fprintln(c.Out, named.String())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress verbose output")
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "download all tagged images in the repository")
	cmd.Flags().StringVar(&platform, "platform", "", "set platform if server is multi-platform capable (os/arch[/variant])")
	return cmd
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func parsePlatform(v string) (ocispec.Platform, error) {
	parts := strings.Split(v, "/")
	if len(parts) > 3 || parts[0] == "" {
		return ocispec.Platform{}, fmt.Errorf("%q: cannot parse platform specifier: invalid argument", v)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}
