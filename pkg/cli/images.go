package cli

import (
	"fmt"
	"io"
	"maps"
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
			if err := printImages(c.Out, res.Items, imagesFormat(format, quiet, digests), digests, !noTrunc); err != nil {
				return err
			}
			if len(args) == 1 && len(res.Items) == 0 && cmd.CalledAs() == "images" {
				printAmbiguousHint(c.Err, args[0])
			}
			return nil
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

// The docker CLI's formats of `images`: its default table, with the DIGEST
// column for --digests, and its "raw" form.
const (
	imagesTable           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	imagesTableWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	imagesRaw             = "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
	imagesRawWithDigest   = "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
)

// imagesFormat is the template `images` prints with, chosen as the docker
// CLI chooses it: -q wins over the default table and raw but not over a
// template of the user's, and --digests adds a DIGEST column to a table
// that has none.
func imagesFormat(format string, quiet, digests bool) string {
	switch format {
	case "", "table":
		switch {
		case quiet:
			return "{{.ID}}"
		case digests:
			return imagesTableWithDigest
		}
		return imagesTable
	case "raw":
		switch {
		case quiet:
			return "image_id: {{.ID}}"
		case digests:
			return imagesRawWithDigest
		}
		return imagesRaw
	}
	if strings.HasPrefix(format, "table") && digests && !strings.Contains(format, "{{.Digest}}") {
		format += "\t{{.Digest}}"
	}
	return format
}

// printImages prints imgs in format (imagesFormat's), a line per name as
// imageRows gives them.
func printImages(w io.Writer, imgs []image.Summary, format string, showDigests, trunc bool) error {
	// As docker's, a digest is looked up only when shown: in the DIGEST
	// column (--digests) or a template naming it.
	needDigest := showDigests || strings.Contains(format, "{{.Digest}}")
	var rows []row
	for _, img := range imgs {
		rows = append(rows, imageRows(img, trunc, needDigest, showDigests)...)
	}
	return printRows(w, format, "", imageHeaders, rows)
}

// imageRows are the lines docker's `images` gives one image: a dangling
// image one <none> line; else one per tag, repeated per digest of its
// repository when needDigest, then one per repository known by digest
// only (with its digests when showDigests, else one line with an empty
// Digest). Repositories keep the order of their first name (docker's
// follows a map's and varies from run to run).
func imageRows(img image.Summary, trunc, needDigest, showDigests bool) []row {
	base := imageRow(img, trunc)
	line := func(repo, tag, digest string) row {
		r := maps.Clone(base)
		r["Repository"], r["Tag"], r["Digest"] = repo, tag, digest
		return r
	}
	if isDanglingSummary(img) {
		return []row{line("<none>", "<none>", "<none>")}
	}
	tagRepos, tags := byRepository(img.RepoTags, func(n reference.Named) (string, bool) {
		t, ok := n.(reference.NamedTagged)
		if !ok {
			return "", false
		}
		return t.Tag(), true
	})
	digestRepos, digests := byRepository(img.RepoDigests, func(n reference.Named) (string, bool) {
		c, ok := n.(reference.Canonical)
		if !ok {
			return "", false
		}
		return c.Digest().String(), true
	})
	var rows []row
	for _, repo := range tagRepos {
		ds := digests[repo]
		delete(digests, repo)
		if !needDigest || len(ds) == 0 {
			ds = []string{"<none>"}
		}
		for _, tag := range tags[repo] {
			for _, d := range ds {
				rows = append(rows, line(repo, tag, d))
			}
		}
	}
	for _, repo := range digestRepos {
		ds, ok := digests[repo]
		if !ok {
			continue // shown with its tags
		}
		if !showDigests {
			ds = []string{""}
		}
		for _, d := range ds {
			rows = append(rows, line(repo, "<none>", d))
		}
	}
	return rows
}

// byRepository groups refs by familiar repository, each with what part
// gives of it (a tag, a digest); repositories in the order of their first
// ref, those unparsable or without the part left out.
func byRepository(refs []string, part func(reference.Named) (string, bool)) ([]string, map[string][]string) {
	var order []string
	parts := map[string][]string{}
	for _, s := range refs {
		named, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if p, ok := part(named); ok {
			repo := reference.FamiliarName(named)
			if parts[repo] == nil {
				order = append(order, repo)
			}
			parts[repo] = append(parts[repo], p)
		}
	}
	return order, parts
}

// printAmbiguousHint is docker's hint, on stderr, for `images NAME` that
// finds nothing when NAME is a subcommand of `image`.
func printAmbiguousHint(w io.Writer, name string) {
	switch name {
	case "build", "history", "import", "inspect", "list", "load", "ls", "prune", "pull", "push", "rm", "save", "tag":
		fmt.Fprintf(w, "\nNo images found matching %q: did you mean \"docker image %[1]s\"?\n", name)
	}
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
