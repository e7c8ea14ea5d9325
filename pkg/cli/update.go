package cli

import (
	"fmt"
	"strconv"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newUpdateCommand is `docker update`: the resource limits and restart
// policy of running or stopped containers. Only the flags given are sent;
// the engine leaves the rest as it is.
func newUpdateCommand(c *CLI) *cobra.Command {
	var (
		blkioWeight                                    uint16
		cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime int64
		cpuShares, pidsLimit                           int64
		cpus, cpusetCpus, cpusetMems, restart          string
		memory, memoryReservation, memorySwap          string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given := false
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { given = given || f.Changed })
			if !given {
				return &StatusError{Code: 125, Msg: "you must provide one or more flags when using this command"}
			}
			r := &container.Resources{
				BlkioWeight: blkioWeight, CPUPeriod: cpuPeriod, CPUQuota: cpuQuota, CPURealtimePeriod: cpuRtPeriod,
				CPURealtimeRuntime: cpuRtRuntime, CPUShares: cpuShares, CpusetCpus: cpusetCpus, CpusetMems: cpusetMems,
			}
			var err error
			for _, b := range []struct {
				flag, val string
				dst       *int64
			}{{"memory", memory, &r.Memory}, {"memory-reservation", memoryReservation, &r.MemoryReservation}, {"memory-swap", memorySwap, &r.MemorySwap}} {
				if b.val == "" {
					continue
				}
				if b.flag == "memory-swap" && b.val == "-1" {
					*b.dst = -1
					continue
				}
				if *b.dst, err = units.RAMInBytes(b.val); err != nil {
					return &StatusError{Code: 125, Msg: fmt.Sprintf("invalid argument %q for \"--%s\" flag: %v", b.val, b.flag, err)}
				}
			}
			if cpus != "" {
				f, err := strconv.ParseFloat(cpus, 64)
				if err != nil {
					return &StatusError{Code: 125, Msg: fmt.Sprintf("invalid argument %q for \"--cpus\" flag: failed to parse %s as a rational number", cpus, cpus)}
				}
				r.NanoCPUs = int64(f * 1e9)
			}
			if cmd.Flags().Changed("pids-limit") {
				r.PidsLimit = &pidsLimit
			}
			opts := client.ContainerUpdateOptions{Resources: r}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestart(restart)
				if err != nil {
					return &StatusError{Code: 125, Msg: err.Error()}
				}
				opts.RestartPolicy = &p
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(id string) error {
				res, err := cl.ContainerUpdate(cmd.Context(), id, opts)
				for _, w := range res.Warnings {
					fmt.Fprintln(c.Err, w)
				}
				return err
			})
		},
	}
	fs := cmd.Flags()
	fs.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fs.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64Var(&cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	fs.Int64Var(&cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	fs.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&cpus, "cpus", "", "Number of CPUs")
	fs.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.StringVarP(&memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.StringVar(&memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
