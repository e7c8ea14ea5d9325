package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// forEach runs fn for each argument, printing failures like docker and
// failing at the end if any failed.
func forEach(c *CLI, args []string, fn func(string) error) error {
	var failed []string
	for _, a := range args {
		if err := fn(a); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		fmt.Fprintln(c.Out, a)
	}
	if len(failed) > 0 {
		return &StatusError{Code: 1, Msg: strings.Join(failed, "\n")}
	}
	return nil
}

func newStartCommand(c *CLI) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Refused before any request, as docker refuses them when its
			// daemon has no experimental features: berth has no
			// checkpoint/restore at all.
			for _, name := range []string{"checkpoint", "checkpoint-dir"} {
				if cmd.Flags().Changed(name) {
					return fmt.Errorf(`"--%s" is not supported: berth cannot checkpoint or restore containers`, name)
				}
			}
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				return startAttached(cmd, c, args[0], interactive, detachKeys)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var notStarted []string
			err = forEach(c, args, func(id string) error {
				_, err := cl.ContainerStart(cmd.Context(), id, client.ContainerStartOptions{})
				if err != nil {
					notStarted = append(notStarted, id)
				}
				return err
			})
			var se *StatusError
			if errors.As(err, &se) {
				se.Msg += "\nError: failed to start containers: " + strings.Join(notStarted, ", ")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.String("checkpoint", "", "Restore from this checkpoint (not supported: refused)")
	f.String("checkpoint-dir", "", "Use a custom checkpoint storage directory (not supported: refused)")
	return cmd
}

// startAttached is docker's start -a/-i: stdout and stderr are attached
// either way, stdin with -i if the container keeps it open; signals are
// forwarded unless it has a tty (whose own keys signal it); the exit
// status is the container's. Unlike run, a failed attach or start is a
// plain error (status 1).
func startAttached(cmd *cobra.Command, c *CLI, name string, interactive bool, detachKeys string) error {
	ctx := cmd.Context()
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ct := res.Container
	if ct.Config == nil || ct.HostConfig == nil {
		return fmt.Errorf("inspect %s: the engine's answer has no Config or HostConfig", name)
	}
	plain := func(err error) error { return err }
	a := attachedStart{
		// The id, not the name: a rename meanwhile must not lose it.
		id: ct.ID, tty: ct.Config.Tty, stdin: interactive && ct.Config.OpenStdin, stdout: true, stderr: true,
		autoRemove: ct.HostConfig.AutoRemove, sigProxy: !ct.Config.Tty, detachKeys: detachKeys,
		attachFailed: plain, startFailed: plain,
	}
	return a.run(ctx, c, cl)
}
