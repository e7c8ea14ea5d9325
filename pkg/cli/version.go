package cli

import (
	"fmt"
	"runtime"
	"text/tabwriter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newVersionCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the ctl and engine version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(c.Out, 0, 1, 1, ' ', 0)
			fmt.Fprintf(tw, "Client:\n Version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			cl, err := c.Client()
			if err != nil {
				tw.Flush()
				return err
			}
			v, err := cl.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
			if err != nil {
				tw.Flush()
				return err
			}
			fmt.Fprintf(tw, " API version:\t%s\n\nServer: %s\n", cl.ClientVersion(), v.Platform.Name)
			for _, comp := range v.Components {
				fmt.Fprintf(tw, " %s:\n  Version:\t%s\n", comp.Name, comp.Version)
				for _, k := range []string{"ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion"} {
					if d, ok := comp.Details[k]; ok && d != "" {
						fmt.Fprintf(tw, "  %s:\t%s\n", k, d)
					}
				}
			}
			return tw.Flush()
		},
	}
}
