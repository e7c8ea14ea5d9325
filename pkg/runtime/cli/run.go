package cli

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func runCommand(g *globals) *cobra.Command {
	var c createFlags
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] ID",
		Short: "create and start a container; without --detach wait for it and exit with its status",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !detach && container.InitSibling {
				// In standby, init is the caller's child: this process could
				// not wait for it.
				return errors.New("run without --detach is not available in standby: init is the caller's child (use create and start)")
			}
			// The codecs of the bundle's JSON, and init's clone and exec,
			// beside the parsing and the signal set-up.
			container.WarmAhead()
			container.StartInitAheadBeside()
			// A create that fails before it takes the init drops it.
			defer container.DropInitAhead()
			cgroupprime.Start() // placing the process comes a few ms later
			o, err := c.opts(g, args[0])
			if err != nil {
				return err
			}
			// Forward signals from the moment init exists.
			sigs := make(chan os.Signal, 16)
			if !detach {
				signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
				defer signal.Stop(sigs)
			}
			cc, err := container.Create(o)
			if err != nil {
				return err
			}
			if err := container.Start(g.root, o.ID); err != nil {
				_ = container.Delete(g.root, o.ID, true)
				return err
			}
			if detach {
				return nil
			}
			pid := cc.Pid
			go func() {
				for s := range sigs {
					_ = unix.Kill(pid, s.(syscall.Signal))
				}
			}()
			ws, werr := cc.Wait()
			if werr != nil {
				return werr
			}
			code := ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			if !keep {
				endDelete := container.Trace.Begin("delete")
				if err := container.Delete(g.root, o.ID, true); err != nil {
					g.log.warnf("delete %s: %v", o.ID, err)
				}
				endDelete()
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits (delete removes it)")
	return cmd
}
