package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRunCommand(c *CLI) *cobra.Command {
	var f containerFlags
	var detach, sigProxy bool
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
					return startError(err)
				}
				fmt.Fprintln(c.Out, id)
				return nil
			}

			return runAttached(ctx, c, cl, id, &f, sigProxy)
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run container in background and print container ID")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "proxy received signals to the process")
	return cmd
}

// proxySignals forwards the signals ctl receives to the container, as
// docker's --sig-proxy does; the returned func stops it.
func proxySignals(ctx context.Context, cl *client.Client, id string) func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				s, ok := sig.(syscall.Signal)
				if !ok {
					continue
				}
				_, _ = cl.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: strconv.Itoa(int(s))})
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// startError gives a failed start docker's exit codes: 127 when the command
// was not found, 126 when it could not be run, else 125.
func startError(err error) error {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, "permission denied"):
		code = 126
	}
	return &StatusError{Code: code, Msg: msg}
}

// runAttached is run without -d, as docker does it: attach and wait before
// start, so that no output and no exit is missed; with -t the terminal goes
// raw and its size follows; the detach keys end the session and leave the
// container running.
func runAttached(ctx context.Context, c *CLI, cl *client.Client, id string, f *containerFlags, sigProxy bool) error {
	att, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: f.interactive, Stdout: true, Stderr: true, DetachKeys: f.detachKeys})
	if err != nil {
		return &StatusError{Code: 125, Msg: err.Error()}
	}
	defer att.Close()
	cond := container.WaitConditionNextExit
	if f.rm {
		cond = container.WaitConditionRemoved
	}
	wait := cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	var term *terminal
	if f.tty && f.interactive {
		if term = terminalOf(c.In); term != nil {
			if err := term.makeRaw(); err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			defer term.restore()
		}
	}
	sess := &session{c: c, conn: att.HijackedResponse, tty: f.tty, stdin: f.interactive}
	copied := sess.outputDone()
	if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return startError(err)
	}
	if term != nil {
		stop := term.monitorSize(ctx, func(ctx context.Context, h, w uint) error {
			_, err := cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
		defer stop()
	}
	if sigProxy && !f.tty {
		stop := proxySignals(ctx, cl, id)
		defer stop()
	}
	var code int
	select {
	case res := <-wait.Result:
		if res.Error != nil {
			return &StatusError{Code: 125, Msg: res.Error.Message}
		}
		code = int(res.StatusCode)
		select {
		case <-copied:
		case <-time.After(5 * time.Second): // the stream should end with the container
		}
	case err := <-wait.Error:
		return &StatusError{Code: 125, Msg: err.Error()}
	case <-copied:
		// The output ended first: the exit, whose result follows at once,
		// or a detach, after which the container runs on.
		select {
		case res := <-wait.Result:
			code = int(res.StatusCode)
		case err := <-wait.Error:
			return &StatusError{Code: 125, Msg: err.Error()}
		case <-time.After(500 * time.Millisecond):
			if res, err := cl.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil && res.Container.State != nil && res.Container.State.Running {
				return nil
			}
			res := <-wait.Result
			code = int(res.StatusCode)
		}
	}
	if code != 0 {
		return &StatusError{Code: code}
	}
	return nil
}
