package cli

import (
	"fmt"
	"strconv"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newSystemCommand is `ctl system ...`; df is its only subcommand so far.
func newSystemCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage the engine",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSystemDFCommand(c))
	return cmd
}

func reclaimable(n, total int64) string {
	s := units.HumanSizeWithPrecision(float64(n), 3)
	if total > 0 {
		s += fmt.Sprintf(" (%d%%)", n*100/total)
	}
	return s
}

func newSystemDFCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show engine disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			du, err := cl.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true})
			if err != nil {
				return err
			}
			rows := []row{
				{"Type": "Images", "TotalCount": strconv.FormatInt(du.Images.TotalCount, 10), "Active": strconv.FormatInt(du.Images.ActiveCount, 10),
					"Size": units.HumanSizeWithPrecision(float64(du.Images.TotalSize), 3), "Reclaimable": reclaimable(du.Images.Reclaimable, du.Images.TotalSize)},
				{"Type": "Containers", "TotalCount": strconv.FormatInt(du.Containers.TotalCount, 10), "Active": strconv.FormatInt(du.Containers.ActiveCount, 10),
					"Size": units.HumanSizeWithPrecision(float64(du.Containers.TotalSize), 3), "Reclaimable": reclaimable(du.Containers.Reclaimable, du.Containers.TotalSize)},
				{"Type": "Local Volumes", "TotalCount": strconv.FormatInt(du.Volumes.TotalCount, 10), "Active": strconv.FormatInt(du.Volumes.ActiveCount, 10),
					"Size": units.HumanSizeWithPrecision(float64(du.Volumes.TotalSize), 3), "Reclaimable": reclaimable(du.Volumes.Reclaimable, du.Volumes.TotalSize)},
				{"Type": "Build Cache", "TotalCount": strconv.FormatInt(du.BuildCache.TotalCount, 10), "Active": strconv.FormatInt(du.BuildCache.ActiveCount, 10),
					"Size": units.HumanSizeWithPrecision(float64(du.BuildCache.TotalSize), 3), "Reclaimable": reclaimable(du.BuildCache.Reclaimable, du.BuildCache.TotalSize)},
			}
			headers := row{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
			return printRows(c.Out, format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", headers, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template")
	return cmd
}
