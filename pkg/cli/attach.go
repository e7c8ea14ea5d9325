package cli

import (
	"context"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newAttachCommand(c *CLI) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			ct := res.Container
			if ct.State == nil || !ct.State.Running {
				return &StatusError{Code: 1, Msg: "You cannot attach to a stopped container, start it first"}
			}
			if ct.State.Paused {
				return &StatusError{Code: 1, Msg: "You cannot attach to a paused container, unpause it first"}
			}
			tty := ct.Config.Tty
			stdin := !noStdin && ct.Config.OpenStdin
			att, err := cl.ContainerAttach(ctx, ct.ID, client.ContainerAttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: detachKeys})
			if err != nil {
				return err
			}
			defer att.Close()
			wait := cl.ContainerWait(ctx, ct.ID, client.ContainerWaitOptions{})
			if tty && stdin {
				if term := terminalOf(c.In); term != nil {
					if err := term.makeRaw(); err != nil {
						return err
					}
					defer term.restore()
					stop := term.monitorSize(ctx, func(ctx context.Context, h, w uint) error {
						_, err := cl.ContainerResize(ctx, ct.ID, client.ContainerResizeOptions{Height: h, Width: w})
						return err
					})
					defer stop()
				}
			}
			if sigProxy && !tty {
				stop := proxySignals(ctx, cl, ct.ID)
				defer stop()
			}
			sess := &session{c: c, conn: att.HijackedResponse, tty: tty, stdin: stdin}
			<-sess.outputDone()
			// The output ends at the exit or at a detach.
			select {
			case r := <-wait.Result:
				if r.StatusCode != 0 {
					return &StatusError{Code: int(r.StatusCode)}
				}
			case err := <-wait.Error:
				return err
			case <-time.After(500 * time.Millisecond):
				// Still running: detached.
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	return cmd
}
