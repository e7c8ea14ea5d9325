package cli

import (
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newLogsCommand(c *CLI) *cobra.Command {
	var o client.ContainerLogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ins, err := cl.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			o.ShowStdout, o.ShowStderr = true, true
			rc, err := cl.ContainerLogs(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			defer rc.Close()
			if ins.Container.Config != nil && ins.Container.Config.Tty {
				_, err = io.Copy(c.Out, rc)
			} else {
				_, err = stdcopy.StdCopy(c.Out, c.Err, rc)
			}
			return err
		},
	}
	f := cmd.Flags()
	// The engine puts the details (the attributes of --log-opt labels/env)
	// before each line; ctl prints what it gets, as docker does.
	f.BoolVar(&o.Details, "details", false, "Show extra details provided to logs")
	f.BoolVarP(&o.Follow, "follow", "f", false, "follow log output")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	f.StringVar(&o.Since, "since", "", "show logs since timestamp (unix seconds or RFC 3339)")
	f.StringVar(&o.Until, "until", "", "show logs before a timestamp (unix seconds or RFC 3339)")
	f.StringVarP(&o.Tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	return cmd
}
