package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

// reclaimable is docker's RECLAIMABLE cell: a size, and its share of the
// total when there is one.
func reclaimable(n, total int64) string {
	s := units.HumanSize(float64(n))
	if total > 0 {
		s += fmt.Sprintf(" (%d%%)", n*100/total)
	}
	return s
}

// imagesReclaimable is what docker counts as reclaimable: everything but
// the unshared part of the images that containers use.
func imagesReclaimable(du client.ImagesDiskUsage) int64 {
	var used int64
	for _, img := range du.Items {
		if img.Containers > 0 && img.Size != -1 && img.SharedSize != -1 {
			used += img.Size - img.SharedSize
		}
	}
	if len(du.Items) == 0 {
		return du.Reclaimable
	}
	return du.TotalSize - used
}

func newSystemDFCommand(c *CLI) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show engine disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if verbose && format != "" {
				return fmt.Errorf("--verbose with --format is not supported by ctl yet; use one or the other")
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			du, err := cl.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
			if err != nil {
				return fmt.Errorf("reading disk usage: %w", err)
			}
			if verbose {
				return printDFVerbose(c.Out, du)
			}
			sizeRow := func(typ string, total, active, size, recl int64) row {
				return row{"Type": typ, "TotalCount": strconv.FormatInt(total, 10), "Active": strconv.FormatInt(active, 10),
					"Size": units.HumanSize(float64(size)), "Reclaimable": reclaimable(recl, size)}
			}
			rows := []row{
				sizeRow("Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, imagesReclaimable(du.Images)),
				sizeRow("Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable),
				sizeRow("Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable),
				sizeRow("Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable),
			}
			headers := row{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
			return printRows(c.Out, format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", headers, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show detailed information on space usage")
	return cmd
}

// printDFVerbose is docker's df -v: a table per kind of object.
func printDFVerbose(out io.Writer, du client.DiskUsageResult) error {
	fmt.Fprint(out, "Images space usage:\n\n")
	var imgs []row
	for _, img := range du.Images.Items {
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, t := range tags {
			i := strings.LastIndex(t, ":")
			imgs = append(imgs, row{"Repository": t[:i], "Tag": t[i+1:], "ID": shortID(strings.TrimPrefix(img.ID, "sha256:")),
				"CreatedSince": units.HumanDuration(time.Since(time.Unix(img.Created, 0))) + " ago",
				"Size":         units.HumanSizeWithPrecision(float64(img.Size), 3),
				"SharedSize":   dfSize(img.SharedSize, units.HumanSizeWithPrecision),
				"UniqueSize":   dfSize(img.Size-max(img.SharedSize, 0), func(f float64, _ int) string { return units.HumanSize(f) }),
				"Containers":   strconv.FormatInt(img.Containers, 10)})
		}
	}
	if err := printRows(out, "", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		row{"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}, imgs); err != nil {
		return err
	}
	fmt.Fprint(out, "\nContainers space usage:\n\n")
	var cts []row
	for _, s := range du.Containers.Items {
		r := psRow{s: s, trunc: true}
		cts = append(cts, row{"ID": r.ID(), "Image": r.Image(), "Command": r.Command(), "LocalVolumes": r.LocalVolumes(),
			"Size": units.HumanSizeWithPrecision(float64(s.SizeRw), 3), "RunningFor": r.RunningFor(), "Status": r.Status(), "Names": r.Names()})
	}
	if err := printRows(out, "", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
		row{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES"}, cts); err != nil {
		return err
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	var vols []row
	for _, v := range du.Volumes.Items {
		links, size := "N/A", "N/A"
		if v.UsageData != nil {
			links = strconv.FormatInt(v.UsageData.RefCount, 10)
			size = dfSize(v.UsageData.Size, units.HumanSizeWithPrecision)
		}
		vols = append(vols, row{"Name": v.Name, "Links": links, "Size": size})
	}
	if err := printRows(out, "", "table {{.Name}}\t{{.Links}}\t{{.Size}}", row{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}, vols); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	var caches []row
	for _, bc := range du.BuildCache.Items {
		shared := "false"
		if bc.Shared {
			shared = "true"
		}
		lastUsed := ""
		if bc.LastUsedAt != nil {
			lastUsed = units.HumanDuration(time.Since(*bc.LastUsedAt)) + " ago"
		}
		caches = append(caches, row{"ID": truncIf(bc.ID, 12, true), "CacheType": bc.Type, "Size": units.HumanSizeWithPrecision(float64(bc.Size), 3),
			"CreatedSince": units.HumanDuration(time.Since(bc.CreatedAt)) + " ago", "LastUsedSince": lastUsed,
			"UsageCount": strconv.Itoa(bc.UsageCount), "Shared": shared})
	}
	return printRows(out, "", "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
		row{"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}, caches)
}

// dfSize prints a size the engine may not know (-1) as N/A.
func dfSize(n int64, human func(float64, int) string) string {
	if n < 0 {
		return "N/A"
	}
	return human(float64(n), 3)
}
