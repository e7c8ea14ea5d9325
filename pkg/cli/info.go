package cli

import (
	"bytes"
	"fmt"
	"runtime"
	"sort"
	"text/template"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInfoCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
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
			if format != "" {
				return printInfoFormat(c, format, res.Info)
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
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a custom template: 'json', 'TEMPLATE'")
	return cmd
}

// infoView is what an info --format template sees: the engine's answer
// and, as docker adds, this client's own description.
type infoView struct {
	*system.Info
	ClientInfo *infoClient
}

type infoClient struct {
	Debug             bool
	Version           string
	DefaultAPIVersion string
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	BuildTime         string `json:",omitempty"`
	Context           string
	// Plugins is always empty: ctl has no CLI plugins.
	Plugins  []string
	Warnings []string
}

func printInfoFormat(c *CLI, format string, info system.Info) error {
	if format == "json" {
		format = "{{json .}}"
	}
	// As with docker, the template is used as is: no "table", no \t escapes.
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	v := infoView{Info: &info, ClientInfo: &infoClient{Debug: c.debug,
		Version: Version, DefaultAPIVersion: client.MaxAPIVersion, GoVersion: runtime.Version(),
		Os: runtime.GOOS, Arch: runtime.GOARCH, Context: "default", Plugins: []string{},
	}}
	// Docker ends the output with a newline even when the template fails
	// half way.
	var buf bytes.Buffer
	execErr := tmpl.Execute(&buf, v)
	buf.WriteByte('\n')
	if _, err := c.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	return execErr
}
