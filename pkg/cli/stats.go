package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newStatsCommand(c *CLI) *cobra.Command {
	var noStream, noTrunc, all bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ids := args
			// names are what the CONTAINER column shows: the arguments
			// as given, else the short IDs of the listed containers.
			names := map[string]string{}
			if len(ids) == 0 {
				list, err := cl.ContainerList(ctx, client.ContainerListOptions{All: all})
				if err != nil {
					return fmt.Errorf("listing containers: %w", err)
				}
				for _, ct := range list.Items {
					ids = append(ids, ct.ID)
					names[ct.ID] = shortID(ct.ID)
				}
			}
			p := statsPrinter{format: format, noTrunc: noTrunc, names: names}
			if noStream {
				rows := make([]container.StatsResponse, len(ids))
				errs := make([]error, len(ids))
				var wg sync.WaitGroup
				for i, id := range ids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rows[i], errs[i] = oneStats(ctx, cl, id)
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						return err
					}
				}
				return p.print(c.Out, ids, rows)
			}
			return streamStats(ctx, c, cl, ids, p)
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	return cmd
}

func oneStats(ctx context.Context, cl *client.Client, id string) (container.StatsResponse, error) {
	var s container.StatsResponse
	res, err := cl.ContainerStats(ctx, id, client.ContainerStatsOptions{IncludePreviousSample: true})
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	return s, json.NewDecoder(res.Body).Decode(&s)
}

// streamStats redraws the table at every reading of any container.
func streamStats(ctx context.Context, c *CLI, cl *client.Client, ids []string, p statsPrinter) error {
	var mu sync.Mutex
	latest := map[string]container.StatsResponse{}
	updates := make(chan struct{}, 1)
	for _, id := range ids {
		res, err := cl.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
		if err != nil {
			return err
		}
		go func() {
			defer res.Body.Close()
			dec := json.NewDecoder(res.Body)
			for {
				var s container.StatsResponse
				if err := dec.Decode(&s); err != nil {
					return
				}
				mu.Lock()
				latest[id] = s
				mu.Unlock()
				select {
				case updates <- struct{}{}:
				default:
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-updates:
		}
		mu.Lock()
		var shown []string
		rows := make([]container.StatsResponse, 0, len(latest))
		for _, id := range ids {
			if s, ok := latest[id]; ok {
				shown = append(shown, id)
				rows = append(rows, s)
			}
		}
		mu.Unlock()
		fmt.Fprint(c.Out, "\033[2J\033[H")
		if err := p.print(c.Out, shown, rows); err != nil {
			return err
		}
	}
}

// cpuPercent is docker's: the container's share of the host's cpu time
// between the two readings, times the number of cpus.
func cpuPercent(s container.StatsResponse) float64 {
	cpu := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sys := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	n := float64(s.CPUStats.OnlineCPUs)
	if n == 0 {
		n = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpu <= 0 || sys <= 0 {
		return 0
	}
	return cpu / sys * n * 100
}

// memUsage is docker's usage without the inactive page cache.
func memUsage(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v, ok := m.Stats["inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

const statsDefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

func statsHeaders() row {
	return row{"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
		"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
}

// statsPrinter prints a reading per container with docker's placeholders.
type statsPrinter struct {
	format  string
	noTrunc bool
	names   map[string]string // container ID -> CONTAINER column, when listed
}

// print prints rows[i], the reading of container ids[i].
func (p statsPrinter) print(out io.Writer, ids []string, rows []container.StatsResponse) error {
	format := p.format
	if format == "json" {
		format = "{{json .}}"
	}
	rs := make([]row, len(rows))
	for i, s := range rows {
		name := ids[i]
		if n, ok := p.names[ids[i]]; ok {
			name = n
		}
		rs[i] = statsRow(s, name, p.noTrunc)
	}
	return printRows(out, format, statsDefaultFormat, statsHeaders(), rs)
}

func statsRow(s container.StatsResponse, name string, noTrunc bool) row {
	mem := memUsage(s.MemoryStats)
	memPct := 0.0
	if s.MemoryStats.Limit > 0 {
		memPct = float64(mem) / float64(s.MemoryStats.Limit) * 100
	}
	var rx, tx, rd, wr uint64
	for _, n := range s.Networks {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += e.Value
		case "write":
			wr += e.Value
		}
	}
	return row{
		"Container": name,
		"ID":        truncIf(s.ID, 12, !noTrunc),
		"Name":      strings.TrimPrefix(s.Name, "/"),
		"CPUPerc":   fmt.Sprintf("%.2f%%", cpuPercent(s)),
		"MemUsage":  units.BytesSize(float64(mem)) + " / " + units.BytesSize(float64(s.MemoryStats.Limit)),
		"MemPerc":   fmt.Sprintf("%.2f%%", memPct),
		"NetIO":     units.HumanSizeWithPrecision(float64(rx), 3) + " / " + units.HumanSizeWithPrecision(float64(tx), 3),
		"BlockIO":   units.HumanSizeWithPrecision(float64(rd), 3) + " / " + units.HumanSizeWithPrecision(float64(wr), 3),
		"PIDs":      strconv.FormatUint(s.PidsStats.Current, 10),
	}
}
