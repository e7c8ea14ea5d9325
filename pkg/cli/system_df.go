package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/build"
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
			cl, err := c.Client()
			if err != nil {
				return err
			}
			du, err := cl.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
			if err != nil {
				return fmt.Errorf("reading disk usage: %w", err)
			}
			if verbose {
				return printDFVerbose(c.Out, format, du)
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
			if format == "raw" { // docker's: a "key: value" block per kind
				format = "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n"
			}
			headers := row{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
			return printRows(c.Out, format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", headers, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show detailed information on space usage")
	return cmd
}

// dfObjects is what a `df -v --format` template sees, as docker's: each
// kind's objects, with the placeholders of docker's own listing of them
// (images, ps, volume ls, builder du).
type dfObjects struct {
	Images     []row
	Containers []psRow
	Volumes    []row
	BuildCache []row
}

// newDFObjects gives each image its first name only, and the containers
// their writable layer's size only, as docker's df does; trunc shortens
// IDs and commands as in a table.
func newDFObjects(du client.DiskUsageResult, trunc bool) dfObjects {
	o := dfObjects{Images: []row{}, Containers: []psRow{}, Volumes: []row{}, BuildCache: []row{}}
	for _, img := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 && !isDanglingSummary(img) {
			named, err := reference.ParseNormalizedNamed(img.RepoTags[0])
			if err != nil {
				continue
			}
			if tagged, ok := named.(reference.NamedTagged); ok {
				repo, tag = reference.FamiliarName(named), tagged.Tag()
			}
		}
		r := imageRow(img, trunc)
		r["Repository"], r["Tag"], r["Digest"] = repo, tag, ""
		o.Images = append(o.Images, r)
	}
	for _, s := range du.Containers.Items {
		s.SizeRootFs = 0
		o.Containers = append(o.Containers, psRow{s: s, trunc: trunc})
	}
	for _, v := range du.Volumes.Items {
		o.Volumes = append(o.Volumes, volumeRow(v))
	}
	caches := slices.Clone(du.BuildCache.Items)
	slices.SortStableFunc(caches, func(a, b build.CacheRecord) int {
		// Never used first, then by last use; ties by ID.
		switch {
		case a.LastUsedAt == nil && b.LastUsedAt != nil:
			return -1
		case a.LastUsedAt != nil && b.LastUsedAt == nil:
			return 1
		case a.LastUsedAt != nil && !a.LastUsedAt.Equal(*b.LastUsedAt):
			return a.LastUsedAt.Compare(*b.LastUsedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, bc := range caches {
		o.BuildCache = append(o.BuildCache, buildCacheRow(bc, trunc))
	}
	return o
}

// buildCacheRow is a build cache record as docker's placeholders show it;
// an ID marked * is in use.
func buildCacheRow(bc build.CacheRecord, trunc bool) row {
	id, parent := bc.ID, strings.Join(bc.Parents, ", ")
	if trunc {
		id, parent = truncateID(id), truncateID(parent)
	}
	if bc.InUse {
		id += "*"
	}
	r := row{"ID": id, "Parent": parent, "CacheType": bc.Type, "Description": bc.Description,
		"Size": units.HumanSizeWithPrecision(float64(bc.Size), 3), "UsageCount": strconv.Itoa(bc.UsageCount),
		"CreatedAt": bc.CreatedAt.String(), "CreatedSince": units.HumanDuration(time.Now().UTC().Sub(bc.CreatedAt)) + " ago",
		"LastUsedAt": "", "LastUsedSince": "", "InUse": strconv.FormatBool(bc.InUse), "Shared": strconv.FormatBool(bc.Shared)}
	if bc.LastUsedAt != nil {
		r["LastUsedAt"] = bc.LastUsedAt.String()
		r["LastUsedSince"] = units.HumanDuration(time.Now().UTC().Sub(*bc.LastUsedAt)) + " ago"
	}
	return r
}

// dfRawFormat is docker's "raw" df -v: a "key: value" block per object.
const dfRawFormat = `{{range .Images}}type: Image
repository: {{ .Repository }}
tag: {{.Tag}}
digest: {{.Digest}}
image_id: {{.ID}}
created_at: {{.CreatedAt}}
virtual_size: {{.Size}}

{{end -}}
{{range .Containers}}type: Container
` + psRawFormat + `size: {{.Size}}\n
{{end -}}
{{range .Volumes}}type: Volume
name: {{.Name}}\ndriver: {{.Driver}}\n
{{end -}}
{{range .BuildCache}}type: Build Cache
build_cache_id: {{.ID}}
parent_id: {{.Parent}}
build_cache_type: {{.CacheType}}
description: {{.Description}}
created_at: {{.CreatedAt}}
created_since: {{.CreatedSince}}
last_used_at: {{.LastUsedAt}}
last_used_since: {{.LastUsedSince}}
usage_count: {{.UsageCount}}
in_use: {{.InUse}}
shared: {{.Shared}}

{{end -}}`

// printDFVerbose is docker's df -v. Its table (the default) is a table per
// kind of object; any other format is one template for all of them
// (dfObjects), printed once, with no header, columns or final newline.
func printDFVerbose(out io.Writer, format string, du client.DiskUsageResult) error {
	o := newDFObjects(du, format == "" || strings.HasPrefix(format, "table"))
	if format != "" && format != "table" {
		switch format {
		case "json":
			format = "{{json .}}"
		case "raw":
			format = dfRawFormat
		}
		tmpl, err := parseTemplate(strings.Trim(strings.TrimPrefix(format, "table"), " "))
		if err != nil {
			return err
		}
		return tmpl.Execute(out, o)
	}
	fmt.Fprint(out, "Images space usage:\n\n")
	if err := printRows(out, "", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		imageHeaders, o.Images); err != nil {
		return err
	}
	fmt.Fprint(out, "\nContainers space usage:\n\n")
	cts := make([]any, len(o.Containers))
	for i, r := range o.Containers {
		cts[i] = r
	}
	if err := printObjects(out, "", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
		psHeader{}, cts); err != nil {
		return err
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	if err := printRows(out, "", "table {{.Name}}\t{{.Links}}\t{{.Size}}", volumeHeaders, o.Volumes); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	return printRows(out, "", "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
		row{"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}, o.BuildCache)
}
