package cli

import (
	"context"
	"errors"
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

	"github.com/berthd/berth/pkg/trace"
)

func newRunCommand(c *CLI) *cobra.Command {
	var r runOptions
	cmd, fs := containerCommand(c, "run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", "running",
		func(cmd *cobra.Command, co *createOptions, o *containerOptions, args []string) error {
			if traceWanted(r.trace) { // before prepare makes the client
				defer c.startTrace(cmd.Context())()
			}
			cfg, err := co.prepare(cmd, c, o, args)
			if err != nil {
				return err
			}
			return r.run(cmd, c, co, cfg)
		})
	fs.BoolVarP(&r.detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&r.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	fs.StringVar(&r.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	fs.BoolVar(&r.trace, "trace", false, "Print the start's timeline across engined, supervisord, the shim and the runtime on stderr (also $"+trace.Env+")")
	return cmd
}

// runOptions are the flags only run has.
type runOptions struct {
	detach, sigProxy bool
	trace            bool
	detachKeys       string
}

// run is docker's run: create (pulling as --pull says), then, detached,
// start and print the id, else attach to the streams -a/-i select, wait
// and start, exiting with the container's status.
func (r *runOptions) run(cmd *cobra.Command, c *CLI, co *createOptions, cfg *containerConfig) error {
	ctx := cmd.Context()
	conf := cfg.Config
	if r.detach {
		if cmd.Flags().Changed("attach") {
			return errors.New("conflicting options: cannot specify both --attach and --detach")
		}
		conf.AttachStdin, conf.AttachStdout, conf.AttachStderr, conf.StdinOnce = false, false, false, false
	} else if conf.Tty && conf.AttachStdin && terminalOf(c.In) == nil {
		return errors.New("the input device is not a TTY")
	}
	cl, err := c.Client()
	if err != nil {
		return startError(cmd, err)
	}
	endCreate := c.trace.Begin("create")
	id, err := createContainer(ctx, c, cl, cfg, co)
	endCreate()
	if err != nil {
		return startError(cmd, err)
	}
	if !conf.AttachStdin && !conf.AttachStdout && !conf.AttachStderr {
		defer c.trace.Begin("start")()
		if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return startError(cmd, err)
		}
		fmt.Fprintln(c.Out, id)
		return nil
	}
	return runAttached(ctx, cmd, c, cl, id, cfg, r)
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

// startError gives a failed create or start of run docker's form and exit
// codes: 127 when the command was not found, 126 when it could not be run,
// else 125.
func startError(cmd *cobra.Command, err error) error {
	se := withHelp(cmd, err).(*StatusError)
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		se.Code = 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		se.Code = 126
	}
	return se
}

// runAttached is run without -d, as docker does it: see attachedStart.
func runAttached(ctx context.Context, cmd *cobra.Command, c *CLI, cl *client.Client, id string, cfg *containerConfig, r *runOptions) error {
	conf := cfg.Config
	a := attachedStart{
		id: id, tty: conf.Tty, stdin: conf.AttachStdin, stdout: conf.AttachStdout, stderr: conf.AttachStderr,
		autoRemove: cfg.HostConfig.AutoRemove, detachKeys: r.detachKeys,
		sigProxy:     r.sigProxy, // as docker, with or without a tty
		attachFailed: func(err error) error { return &StatusError{Code: 125, Msg: err.Error()} },
		startFailed:  func(err error) error { return startError(cmd, err) },
	}
	return a.run(ctx, c, cl)
}

// attachedStart is the start of a container with ctl attached to it, which
// run and start -a/-i share. They differ in the exit status of a failed
// attach or start, which is why those errors go through attachFailed and
// startFailed.
type attachedStart struct {
	id                         string
	tty, stdin, stdout, stderr bool
	autoRemove, sigProxy       bool
	detachKeys                 string
	attachFailed, startFailed  func(error) error
}

// run attaches and waits before the start, as docker does, so that no
// output and no exit is missed; with a tty and stdin the terminal goes raw
// and its size follows; the detach keys end the session and leave the
// container running; else it ends with the container's exit status.
func (a *attachedStart) run(ctx context.Context, c *CLI, cl *client.Client) error {
	id := a.id
	keys := a.detachKeys
	if keys == "" {
		keys = configDetachKeys()
	}
	// The wait and the attach are independent: both are made at once, and
	// both are in place before the start (each is a request on a
	// connection of its own, 0.7-1 ms here).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cond := container.WaitConditionNextExit
	if a.autoRemove {
		cond = container.WaitConditionRemoved
	}
	waiting := make(chan client.ContainerWaitResult, 1)
	go func() { waiting <- cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond}) }()
	endAttach := c.trace.Begin("attach and wait")
	att, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, DetachKeys: keys,
	})
	if err != nil {
		return a.attachFailed(err)
	}
	defer att.Close()
	wait := <-waiting
	endAttach()
	var term *terminal
	if a.tty && a.stdin {
		if term = terminalOf(c.In); term != nil {
			if err := term.makeRaw(); err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			defer term.restore()
		}
	}
	sess := &session{c: c, conn: att.HijackedResponse, tty: a.tty, stdin: a.stdin}
	copied := sess.outputDone()
	endStart := c.trace.Begin("start")
	if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return a.startFailed(err)
	}
	endStart()
	defer c.trace.Begin("wait (run to exit reported)")()
	if term != nil {
		stop := term.monitorSize(ctx, func(ctx context.Context, h, w uint) error {
			_, err := cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
		defer stop()
	}
	if a.sigProxy {
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
