package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRunCommand(c *CLI) *cobra.Command {
	var f containerFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client()
			if err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			id, err := f.create(ctx, cmd, cl, args, !detach)
			if err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			if detach {
				if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
					return &StatusError{Code: 125, Msg: err.Error()}
				}
				fmt.Fprintln(c.Out, id)
				return nil
			}

			// As docker: attach and wait before start, so that no output and
			// no exit is missed.
			att, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
			if err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			defer att.Close()
			cond := container.WaitConditionNextExit
			if f.rm {
				cond = container.WaitConditionRemoved
			}
			wait := cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
			copied := make(chan error, 1)
			go func() {
				var err error
				if f.tty {
					_, err = io.Copy(c.Out, att.Reader)
				} else {
					_, err = stdcopy.StdCopy(c.Out, c.Err, att.Reader)
				}
				copied <- err
			}()
			if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			var code int
			select {
			case res := <-wait.Result:
				if res.Error != nil {
					return &StatusError{Code: 125, Msg: res.Error.Message}
				}
				code = int(res.StatusCode)
			case err := <-wait.Error:
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			select {
			case <-copied:
			case <-time.After(5 * time.Second): // the stream should end with the container
			}
			if code != 0 {
				return &StatusError{Code: code}
			}
			return nil
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run container in background and print container ID")
	return cmd
}
