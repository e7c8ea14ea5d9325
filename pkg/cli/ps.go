package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

const psDefaultFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// psRawFormat is docker's "raw" format: one "key: value" block per container.
const psRawFormat = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\n" +
	"state: {{.State}}\nstatus:{{with .Status}} {{.}}{{end}}\nnames: {{.Names}}\nlabels:{{with .Labels}} {{.}}{{end}}\nports:{{with .Ports}} {{.}}{{end}}\n"

func newPsCommand(c *CLI) *cobra.Command {
	var all, quiet, noTrunc, latest, size bool
	var last int
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, kv := range filterArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("bad format of filter (expected name=value)")
				}
				f.Add(k, v)
			}
			if latest && last == -1 {
				last = 1
			}
			if quiet && format != "" {
				fmt.Fprintln(c.Err, "WARNING: Ignoring custom format, because both --format and --quiet are set.")
				format = ""
			}
			format = psFormat(format, quiet, size)
			// As docker does, a template that shows sizes asks the engine
			// for them even without --size.
			wantSize := size || strings.Contains(format, ".Size")
			res, err := cl.ContainerList(cmd.Context(), client.ContainerListOptions{All: all, Limit: last, Size: wantSize, Filters: f})
			if err != nil {
				return fmt.Errorf("listing containers: %w", err)
			}
			rows := make([]any, len(res.Items))
			for i, s := range res.Items {
				rows[i] = psRow{s: s, trunc: !noTrunc}
			}
			return printObjects(c.Out, format, psDefaultFormat, psHeader{}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.IntVarP(&last, "last", "n", -1, "show n last created containers (includes all states)")
	f.BoolVarP(&latest, "latest", "l", false, "show the latest created container (includes all states)")
	f.BoolVarP(&size, "size", "s", false, "display total file sizes")
	f.StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "filter output based on conditions (id, name, status, label, exited, ancestor)")
	return cmd
}

// psFormat resolves the short names docker accepts for --format; --quiet
// wins over any of them.
func psFormat(format string, quiet, size bool) string {
	switch {
	case quiet:
		return "{{.ID}}"
	case format == "" || format == "table":
		if size {
			return psDefaultFormat + "\t{{.Size}}"
		}
		return psDefaultFormat
	case format == "raw":
		if size {
			return psRawFormat + "size: {{.Size}}\n"
		}
		return psRawFormat
	case format == "json":
		return "{{json .}}"
	}
	return format
}

// psHeader renders the header row of a table format; a {{.Label "k"}}
// column is headed by the key's last dotted part.
type psHeader map[string]string

func (psHeader) ID() string           { return "CONTAINER ID" }
func (psHeader) Image() string        { return "IMAGE" }
func (psHeader) Command() string      { return "COMMAND" }
func (psHeader) CreatedAt() string    { return "CREATED AT" }
func (psHeader) RunningFor() string   { return "CREATED" }
func (psHeader) Ports() string        { return "PORTS" }
func (psHeader) State() string        { return "STATE" }
func (psHeader) Status() string       { return "STATUS" }
func (psHeader) Size() string         { return "SIZE" }
func (psHeader) Names() string        { return "NAMES" }
func (psHeader) Labels() string       { return "LABELS" }
func (psHeader) Mounts() string       { return "MOUNTS" }
func (psHeader) Networks() string     { return "NETWORKS" }
func (psHeader) LocalVolumes() string { return "LOCAL VOLUMES" }
func (psHeader) Platform() string     { return "PLATFORM" }
func (psHeader) Label(k string) string {
	parts := strings.Split(k, ".")
	return parts[len(parts)-1]
}

// psRow is one container as docker's ps placeholders show it.
type psRow struct {
	s     container.Summary
	trunc bool
}

func (r psRow) ID() string {
	return truncIf(r.s.ID, 12, r.trunc)
}

// Image hides digests and long image IDs unless --no-trunc.
func (r psRow) Image() string {
	img := r.s.Image
	if !r.trunc {
		return img
	}
	if hex, ok := strings.CutPrefix(img, "sha256:"); ok {
		return truncIf(hex, 12, true)
	}
	if ref, _, ok := strings.Cut(img, "@"); ok && ref != "" {
		return ref
	}
	return img
}

func (r psRow) Command() string   { return psCommand(r.s, !r.trunc) }
func (r psRow) CreatedAt() string { return time.Unix(r.s.Created, 0).String() }
func (r psRow) RunningFor() string {
	return units.HumanDuration(time.Now().UTC().Sub(time.Unix(r.s.Created, 0))) + " ago"
}
func (r psRow) Ports() string { return displayPorts(r.s.Ports) }
func (r psRow) State() string { return string(r.s.State) }
func (r psRow) Status() string {
	return r.s.Status
}

// Size is the writable layer, with the whole filesystem when the engine
// reported it.
func (r psRow) Size() string {
	rw := units.HumanSizeWithPrecision(float64(r.s.SizeRw), 3)
	if r.s.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", rw, units.HumanSizeWithPrecision(float64(r.s.SizeRootFs), 3))
	}
	return rw
}

func (r psRow) Names() string {
	var names []string
	for _, n := range r.s.Names {
		n = strings.TrimPrefix(n, "/")
		// links look like /a/b; docker shows them only untruncated
		if !r.trunc || !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

func (r psRow) Labels() string {
	var kv []string
	for k, v := range r.s.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (r psRow) Label(k string) string { return r.s.Labels[k] }

func (r psRow) Mounts() string {
	var names []string
	for _, m := range r.s.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if r.trunc {
			n = ellipsis(n, 15)
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func (r psRow) Networks() string {
	if r.s.NetworkSettings == nil {
		return ""
	}
	var names []string
	for n := range r.s.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (r psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.s.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Platform is a typed nil when the engine does not say, which docker
// shows as <nil> and null.
func (r psRow) Platform() *ocispec.Platform {
	if d := r.s.ImageManifestDescriptor; d != nil {
		return d.Platform
	}
	return nil
}

// MarshalJSON is the "json" format: every placeholder by name.
func (r psRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"Command": r.Command(), "CreatedAt": r.CreatedAt(), "ID": r.ID(), "Image": r.Image(),
		"Labels": r.Labels(), "LocalVolumes": r.LocalVolumes(), "Mounts": r.Mounts(), "Names": r.Names(),
		"Networks": r.Networks(), "Platform": r.Platform(), "Ports": r.Ports(), "RunningFor": r.RunningFor(),
		"Size": r.Size(), "State": r.State(), "Status": r.Status(),
	})
}

func truncIf(s string, n int, trunc bool) string {
	if trunc && len(s) > n {
		return s[:n]
	}
	return s
}

// ellipsis cuts s to n runes, the last one an ellipsis.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// psCommand is docker's quoted, ellipsised COMMAND column.
func psCommand(s container.Summary, noTrunc bool) string {
	cmd := s.Command
	if !noTrunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// displayPorts is docker's PORTS column: ports published on the same
// number as inside, and unpublished ones, are folded into ranges per
// address and protocol; other mappings are listed one by one after them.
func displayPorts(ports []container.PortSummary) string {
	ps := append([]container.PortSummary(nil), ports...)
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		return a.PublicPort < b.PublicPort
	})
	type run struct{ first, last uint16 }
	var keys []string
	groups := map[string][]run{}
	var mappings []string
	for _, p := range ps {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				host := net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort)))
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		rs, seen := groups[key]
		if !seen {
			keys = append(keys, key)
		}
		if n := len(rs); n > 0 && rs[n-1].last+1 == p.PrivatePort {
			rs[n-1].last = p.PrivatePort
		} else if n == 0 || rs[n-1].last != p.PrivatePort {
			rs = append(rs, run{p.PrivatePort, p.PrivatePort})
		}
		groups[key] = rs
	}
	var out []string
	for _, key := range keys {
		ip, proto, hasIP := strings.Cut(key, "/")
		if !hasIP {
			proto = ip
		}
		for _, r := range groups[key] {
			span := strconv.Itoa(int(r.first))
			if r.last != r.first {
				span += "-" + strconv.Itoa(int(r.last))
			}
			if hasIP {
				out = append(out, fmt.Sprintf("%s->%s/%s", net.JoinHostPort(ip, span), span, proto))
			} else {
				out = append(out, span+"/"+proto)
			}
		}
	}
	return strings.Join(append(out, mappings...), ", ")
}
