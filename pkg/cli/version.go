package cli

import (
	"bytes"
	"fmt"
	"runtime"
	"text/tabwriter"
	"text/template"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newVersionCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the ctl and engine version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "" {
				return printVersionFormat(c, cmd, format)
			}
			tw := tabwriter.NewWriter(c.Out, 0, 1, 1, ' ', 0)
			fmt.Fprintf(tw, "Client:\n Version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			cl, err := c.Client()
			if err != nil {
				tw.Flush()
				return err
			}
			v, err := cl.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
			if err != nil {
				tw.Flush()
				return err
			}
			fmt.Fprintf(tw, " API version:\t%s\n\nServer: %s\n", cl.ClientVersion(), v.Platform.Name)
			for _, comp := range v.Components {
				fmt.Fprintf(tw, " %s:\n  Version:\t%s\n", comp.Name, comp.Version)
				for _, k := range []string{"ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion"} {
					if d, ok := comp.Details[k]; ok && d != "" {
						fmt.Fprintf(tw, "  %s:\t%s\n", k, d)
					}
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a custom template: 'json', 'TEMPLATE'")
	return cmd
}

// versionView is what a version --format template sees, laid out as
// docker's so that templates and JSON consumers written for it work.
type versionView struct {
	Client versionClient
	Server *versionServer
}

type versionClient struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string `json:"DefaultAPIVersion,omitempty"`
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	BuildTime         string `json:",omitempty"`
	Context           string
}

type versionServer struct {
	Platform      struct{ Name string }
	Components    []system.ComponentVersion `json:",omitempty"`
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:",omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	Experimental  bool   `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
}

// printVersionFormat prints the template with what could be learnt: as
// with docker, an unreachable engine leaves .Server nil and is reported
// after the output.
func printVersionFormat(c *CLI, cmd *cobra.Command, format string) error {
	if format == "json" {
		format = "{{json .}}"
	}
	tmpl, err := template.New("version").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return &StatusError{Code: 64, Msg: "template parsing error: " + err.Error()}
	}
	v := versionView{Client: versionClient{
		Version: Version, DefaultAPIVersion: client.MaxAPIVersion, GoVersion: runtime.Version(),
		Os: runtime.GOOS, Arch: runtime.GOARCH, Context: "default",
	}}
	cl, srvErr := c.Client()
	if srvErr == nil {
		var sv client.ServerVersionResult
		if sv, srvErr = cl.ServerVersion(cmd.Context(), client.ServerVersionOptions{}); srvErr == nil {
			v.Client.APIVersion = cl.ClientVersion()
			v.Server = serverView(sv)
		}
	}
	var buf bytes.Buffer
	execErr := tmpl.Execute(&buf, v)
	buf.WriteByte('\n')
	if _, err := c.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if srvErr != nil {
		return srvErr
	}
	return execErr
}

// serverView fills in from the Engine component the fields that the API
// client no longer copies to the top level.
func serverView(sv client.ServerVersionResult) *versionServer {
	s := &versionServer{Components: sv.Components, Version: sv.Version, APIVersion: sv.APIVersion,
		MinAPIVersion: sv.MinAPIVersion, Os: sv.Os, Arch: sv.Arch, Experimental: sv.Experimental} //nolint:staticcheck // docker still shows it
	s.Platform.Name = sv.Platform.Name
	for _, comp := range sv.Components {
		if comp.Name == "Engine" {
			s.GitCommit = comp.Details["GitCommit"]
			s.GoVersion = comp.Details["GoVersion"]
			s.KernelVersion = comp.Details["KernelVersion"]
			s.BuildTime = comp.Details["BuildTime"]
		}
	}
	return s
}
