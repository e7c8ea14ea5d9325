package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newStatsCommand(c *CLI) *cobra.Command {
	var noStream, noTrunc bool
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
			if len(ids) == 0 {
				list, err := cl.ContainerList(ctx, client.ContainerListOptions{})
				if err != nil {
					return err
				}
				for _, ct := range list.Items {
					ids = append(ids, ct.ID)
				}
			}
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
				printStats(c.Out, rows, noTrunc)
				return nil
			}
			return streamStats(ctx, c, cl, ids, noTrunc)
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
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
func streamStats(ctx context.Context, c *CLI, cl *client.Client, ids []string, noTrunc bool) error {
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
		rows := make([]container.StatsResponse, 0, len(latest))
		for _, s := range latest {
			rows = append(rows, s)
		}
		mu.Unlock()
		sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
		fmt.Fprint(c.Out, "\033[2J\033[H")
		printStats(c.Out, rows, noTrunc)
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

func printStats(out io.Writer, rows []container.StatsResponse, noTrunc bool) {
	w := tabwriter.NewWriter(out, 0, 1, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, s := range rows {
		id := s.ID
		if !noTrunc && len(id) > 12 {
			id = id[:12]
		}
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
		fmt.Fprintf(w, "%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%s / %s\t%d\n", id, strings.TrimPrefix(s.Name, "/"),
			cpuPercent(s), units.BytesSize(float64(mem)), units.BytesSize(float64(s.MemoryStats.Limit)), memPct,
			units.HumanSizeWithPrecision(float64(rx), 3), units.HumanSizeWithPrecision(float64(tx), 3),
			units.HumanSizeWithPrecision(float64(rd), 3), units.HumanSizeWithPrecision(float64(wr), 3), s.PidsStats.Current)
	}
	w.Flush()
}
