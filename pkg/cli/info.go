package cli

import (
	"fmt"
	"sort"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInfoCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				return err
			}
			i := res.Info
			w := c.Out
			fmt.Fprintf(w, "Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n", i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images)
			fmt.Fprintf(w, " Server Version: %s\n Storage Driver: %s\n Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n", i.ServerVersion, i.Driver, i.LoggingDriver, i.CgroupDriver, i.CgroupVersion)
			var rts []string
			for name := range i.Runtimes {
				rts = append(rts, name)
			}
			sort.Strings(rts)
			fmt.Fprintf(w, " Runtimes: %v\n Default Runtime: %s\n", rts, i.DefaultRuntime)
			fmt.Fprintf(w, " Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n",
				i.KernelVersion, i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, units.BytesSize(float64(i.MemTotal)), i.Name, i.ID, i.DockerRootDir)
			for _, warn := range i.Warnings {
				fmt.Fprintln(c.Err, warn)
			}
			return nil
		},
	}
}
