package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// imageHeaders are the column names of the image fields, as docker's.
var imageHeaders = row{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
	"Containers": "CONTAINERS",
}

// parseFilterFlags turns -f KEY=VALUE flags into API filters.
func parseFilterFlags(flags []string) (client.Filters, error) {
	f := client.Filters{}
	for _, v := range flags {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), val)
	}
	return f, nil
}

func newImagesCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc, digests, all, tree bool
	var filterFlags []string
	var format string
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"ls"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tree {
				// The docker CLI's refusals, in its order and words.
				for _, r := range []struct {
					set  bool
					flag string
				}{{quiet, "--quiet"}, {noTrunc, "--no-trunc"}, {digests, "--show-digest"}, {format != "", "--format"}} {
					if r.set {
						return fmt.Errorf("%s is not yet supported with --tree", r.flag)
					}
				}
			}
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Add("reference", args[0])
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImageList(cmd.Context(), client.ImageListOptions{All: all, Filters: f, Manifests: tree})
			if err != nil {
				return err
			}
			if tree {
				width, tty := terminalWidth(c.Out)
				imgs, spacing := treeImages(res.Items, all)
				treeOutput{w: c.Out, tty: tty, ttyWidth: width}.print(imgs, spacing)
				return nil
			}
			var rows []row
			seen := map[string]bool{}
			for _, img := range res.Items {
				base := imageRow(img, !noTrunc)
				digestOf := map[string]string{}
				for _, d := range img.RepoDigests {
					if repo, dg, ok := strings.Cut(d, "@"); ok {
						digestOf[repo] = dg
					}
				}
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					r := row{}
					for k, v := range base {
						r[k] = v
					}
					r["Repository"], r["Tag"], r["Digest"] = "<none>", "<none>", "<none>"
					if named, err := reference.ParseNormalizedNamed(t); err == nil {
						r["Repository"] = reference.FamiliarName(named)
						if tagged, ok := named.(reference.Tagged); ok {
							r["Tag"] = tagged.Tag()
						}
						if d, ok := digestOf[r["Repository"]]; ok {
							r["Digest"] = d
						}
					}
					if quiet {
						if seen[r["ID"]] {
							continue
						}
						seen[r["ID"]] = true
					}
					rows = append(rows, r)
				}
			}
			def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			if digests {
				def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			}
			if quiet {
				format = "{{.ID}}"
			}
			return printRows(c.Out, format, def, imageHeaders, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all images")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVar(&digests, "digests", false, "show digests")
	cmd.Flags().StringArrayVarP(&filterFlags, "filter", "f", nil, "filter output based on conditions provided (dangling, reference, before, since, label)")
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template ('table ...', 'json', or a template)")
	cmd.Flags().BoolVar(&tree, "tree", false, "list images with their platforms as a tree (docker's experimental view)")
	return cmd
}

// imageRow is an image as docker's image placeholders show it, but for its
// name (Repository, Tag, Digest), which each listing sets.
func imageRow(img image.Summary, trunc bool) row {
	id := img.ID
	if trunc {
		id = truncateID(id)
	}
	r := row{
		"ID":           id,
		"CreatedSince": units.HumanDuration(time.Now().UTC().Sub(time.Unix(img.Created, 0))) + " ago",
		"CreatedAt":    time.Unix(img.Created, 0).String(),
		"Size":         units.HumanSizeWithPrecision(float64(img.Size), 3),
		"VirtualSize":  units.HumanSize(float64(img.Size)),
		"SharedSize":   "N/A", "UniqueSize": "N/A", "Containers": "N/A",
	}
	if img.SharedSize != -1 {
		r["SharedSize"] = units.HumanSize(float64(img.SharedSize))
		if img.Size != -1 {
			r["UniqueSize"] = units.HumanSize(float64(img.Size - img.SharedSize))
		}
	}
	if img.Containers != -1 {
		r["Containers"] = strconv.FormatInt(img.Containers, 10)
	}
	return r
}

// truncateID is docker's short form of an ID: without its algorithm, 12
// characters.
func truncateID(id string) string {
	if _, after, ok := strings.Cut(id, ":"); ok {
		id = after
	}
	return shortID(id)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
