package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newUpdateCommand is docker's update: resources and restart policy of
// existing containers, changed by the engine in place.
func newUpdateCommand(c *CLI) *cobra.Command {
	var (
		blkioWeight                                     uint16
		cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime  int64
		cpuShares, pidsLimit                            int64
		cpusetCpus, cpusetMems, restart                 string
		memory, memoryReservation, memorySwap, kernelMm bytesValue
		cpus                                            nanoCPUsValue
	)
	memorySwap.withMinusOne = true
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Only update's own flags count, not -H.
			n := 0
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if cmd.InheritedFlags().Lookup(f.Name) == nil {
					n++
				}
			})
			if n == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			if kernelMm.n != 0 {
				return errors.New("--kernel-memory: kernel memory limits are not supported (removed in API 1.42)")
			}
			opts := client.ContainerUpdateOptions{Resources: &container.Resources{
				BlkioWeight:        blkioWeight,
				CpusetCpus:         cpusetCpus,
				CpusetMems:         cpusetMems,
				CPUShares:          cpuShares,
				Memory:             memory.n,
				MemoryReservation:  memoryReservation.n,
				MemorySwap:         memorySwap.n,
				CPUPeriod:          cpuPeriod,
				CPUQuota:           cpuQuota,
				CPURealtimePeriod:  cpuRtPeriod,
				CPURealtimeRuntime: cpuRtRuntime,
				NanoCPUs:           int64(cpus),
			}}
			if pidsLimit != 0 {
				opts.Resources.PidsLimit = &pidsLimit
			}
			if restart != "" {
				p, err := parseRestart(restart)
				if err != nil {
					return err
				}
				opts.RestartPolicy = &p
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var warnings, failed []string
			for _, id := range args {
				res, err := cl.ContainerUpdate(cmd.Context(), id, opts)
				if err != nil {
					failed = append(failed, err.Error())
				} else {
					fmt.Fprintln(c.Out, id)
				}
				warnings = append(warnings, res.Warnings...)
			}
			if len(warnings) > 0 {
				fmt.Fprintln(c.Out, strings.Join(warnings, "\n"))
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	fs.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64Var(&cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	fs.Int64Var(&cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	fs.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.VarP(&memory, "memory", "m", "Memory limit")
	fs.Var(&memoryReservation, "memory-reservation", "Memory soft limit")
	fs.Var(&memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.Var(&kernelMm, "kernel-memory", "Kernel memory limit (deprecated)")
	_ = fs.MarkHidden("kernel-memory")
	fs.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	fs.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.Var(&cpus, "cpus", "Number of CPUs")
	return cmd
}
