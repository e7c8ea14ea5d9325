package cli

import (
	"context"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newExecCommand(c *CLI) *cobra.Command {
	var interactive, tty, detach, privileged bool
	env := listValue{check: checkEnv}
	var envFile listValue
	var user, workdir, detachKeys string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// As docker exec: the files' lines, then -e as given (the
			// engine keeps one value per name, the last).
			fileEnv, err := readKVFiles(envFile.values, os.LookupEnv)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ExecCreateOptions{
				Cmd: args[1:], Env: append(fileEnv, env.values...), User: user, Privileged: privileged, WorkingDir: workdir, TTY: tty, DetachKeys: detachKeys,
				AttachStdin: interactive && !detach, AttachStdout: !detach, AttachStderr: !detach,
			}
			var term *terminal
			if tty {
				if term = terminalOf(c.In); term != nil {
					if h, w, ok := term.size(); ok {
						opts.ConsoleSize = client.ConsoleSize{Height: h, Width: w}
					}
				}
			}
			ex, err := cl.ExecCreate(ctx, args[0], opts)
			if err != nil {
				return err
			}
			if detach {
				_, err := cl.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true, TTY: tty})
				return err
			}
			att, err := cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: tty, ConsoleSize: opts.ConsoleSize})
			if err != nil {
				return err
			}
			defer att.Close()
			if term != nil && interactive {
				if err := term.makeRaw(); err != nil {
					return err
				}
				defer term.restore()
			}
			if term != nil {
				stop := term.monitorSize(ctx, func(ctx context.Context, h, w uint) error {
					_, err := cl.ExecResize(ctx, ex.ID, client.ExecResizeOptions{Height: h, Width: w})
					return err
				})
				defer stop()
			}
			sess := &session{c: c, conn: att.HijackedResponse, tty: tty, stdin: interactive}
			<-sess.outputDone()
			res, err := cl.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
			if err != nil {
				return err
			}
			if res.Running {
				return nil // detached
			}
			if res.ExitCode != 0 {
				return &StatusError{Code: res.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVarP(&detach, "detach", "d", false, "detached mode: run command in the background")
	f.VarP(&env, "env", "e", "set environment variables")
	f.Var(&envFile, "env-file", "Read in a file of environment variables")
	f.BoolVar(&privileged, "privileged", false, "Give extended privileges to the command")
	f.StringVarP(&user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	f.SetInterspersed(false)
	return cmd
}
