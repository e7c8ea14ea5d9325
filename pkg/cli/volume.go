package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newVolumeCommand is `ctl volume`, as docker's.
func newVolumeCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "volume COMMAND", Short: "Manage volumes", Args: cobra.NoArgs}
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeListCommand(c), newVolumeInspectCommand(c),
		newVolumeRemoveCommand(c), newVolumePruneCommand(c))
	return cmd
}

// keyValues reads KEY=VALUE (or KEY) flag values into a map.
func keyValues(l []string) map[string]string {
	m := map[string]string{}
	for _, kv := range l {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// clusterVolumeFlags are docker's flags of swarm's cluster volumes.
var clusterVolumeFlags = []string{"availability", "group", "limit-bytes", "required-bytes", "scope", "secret", "sharing",
	"topology-preferred", "topology-required", "type"}

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	var driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range clusterVolumeFlags {
				if cmd.Flags().Changed(name) {
					return fmt.Errorf("--%s: cluster volumes need swarm mode, which berth does not have", name)
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			o := client.VolumeCreateOptions{Driver: driver, Labels: keyValues(labels), DriverOpts: keyValues(opts)}
			if len(args) == 1 {
				o.Name = args[0]
			}
			res, err := cl.VolumeCreate(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.Volume.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	// Accepted as docker's, refused when given (see RunE).
	f.String("availability", "active", `Cluster Volume availability ("active", "pause", "drain")`)
	f.String("group", "", "Cluster Volume group (cluster volumes)")
	f.String("limit-bytes", "0", "Minimum size of the Cluster Volume in bytes")
	f.String("required-bytes", "0", "Maximum size of the Cluster Volume in bytes")
	f.String("scope", "single", `Cluster Volume access scope ("single", "multi")`)
	f.StringArray("secret", nil, "Cluster Volume secrets")
	f.String("sharing", "none", `Cluster Volume access sharing ("none", "readonly", "onewriter", "all")`)
	f.StringArray("topology-preferred", nil, "A topology that the Cluster Volume would be preferred in")
	f.StringArray("topology-required", nil, "A topology that the Cluster Volume must be accessible from")
	f.String("type", "block", `Cluster Volume access type ("mount", "block")`)
	return cmd
}

func newVolumeListCommand(c *CLI) *cobra.Command {
	var quiet, cluster bool
	var format string
	var filterFlags []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: f})
			if err != nil {
				return err
			}
			sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Name < res.Items[j].Name })
			if cluster {
				// Only swarm's cluster volumes: an engine without swarm
				// mode has none, and the list is empty but for its header.
				res.Items = slices.DeleteFunc(res.Items, func(v volume.Volume) bool { return v.ClusterVolume == nil })
			}
			if quiet {
				for _, v := range res.Items {
					fmt.Fprintln(c.Out, v.Name)
				}
				return nil
			}
			var rows []row
			for _, v := range res.Items {
				rows = append(rows, volumeRow(v))
			}
			def := "table {{.Driver}}\t{{.Name}}"
			if cluster {
				def = "table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}"
			}
			return printRows(c.Out, format, def, volumeHeaders, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	f.BoolVar(&cluster, "cluster", false, "Display only cluster volumes, and use cluster volume list formatting")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filterFlags, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

// volumeHeaders are the column names of the volume fields, as docker's.
var volumeHeaders = row{"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Size": "SIZE", "Links": "LINKS",
	"Group": "GROUP", "Availability": "AVAILABILITY", "Status": "STATUS"}

// volumeRow is a volume as docker's volume placeholders show it; the
// cluster fields are N/A, as there are no cluster volumes here.
func volumeRow(v volume.Volume) row {
	var ls []string
	for k, val := range v.Labels {
		ls = append(ls, k+"="+val)
	}
	sort.Strings(ls)
	size, links := "N/A", "N/A"
	if v.UsageData != nil {
		size, links = units.HumanSize(float64(v.UsageData.Size)), fmt.Sprint(v.UsageData.RefCount)
	}
	return row{"Driver": v.Driver, "Name": v.Name, "Scope": v.Scope, "Mountpoint": v.Mountpoint,
		"Labels": strings.Join(ls, ","), "Size": size, "Links": links, "Availability": "N/A", "Group": "N/A", "Status": "N/A"}
}

func newVolumeInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return printInspect(c, format, args, func(name string) (json.RawMessage, error) {
				res, err := cl.VolumeInspect(cmd.Context(), name, client.VolumeInspectOptions{})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRemoveCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var failed []string
			for _, name := range args {
				if _, err := cl.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force}); err != nil {
					failed = append(failed, err.Error())
					continue
				}
				fmt.Fprintln(c.Out, name)
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newVolumePruneCommand(c *CLI) *cobra.Command {
	var force, all bool
	var filterFlags []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			q := "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
			if all {
				q = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
			}
			if !force && !confirm(c, q) {
				return nil
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			var reclaimed uint64
			if len(res.Report.VolumesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Volumes:")
				for _, n := range res.Report.VolumesDeleted {
					fmt.Fprintln(c.Out, n)
				}
				fmt.Fprintln(c.Out)
				reclaimed = res.Report.SpaceReclaimed
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	f.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	f.StringArrayVar(&filterFlags, "filter", nil, `Provide filter values (e.g. "label=<label>")`)
	return cmd
}
