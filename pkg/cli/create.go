package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// containerFlags are the options create and run share.
type containerFlags struct {
	name, runtime, workdir, user, entrypoint, hostname string
	env                                                []string
	rm, tty                                            bool
}

func (f *containerFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringVar(&f.runtime, "runtime", "", "OCI runtime to use for this container")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set environment variables")
	fs.BoolVar(&f.rm, "rm", false, "automatically remove the container when it exits")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "user (uid[:gid])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&f.hostname, "hostname", "", "container host name")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.SetInterspersed(false)
}

// create sends the create request for IMAGE [CMD...].
func (f *containerFlags) create(ctx context.Context, cmd *cobra.Command, cl *client.Client, args []string, attach bool) (string, error) {
	cfg := &container.Config{
		Image:        args[0],
		Env:          f.env,
		Tty:          f.tty,
		WorkingDir:   f.workdir,
		User:         f.user,
		Hostname:     f.hostname,
		AttachStdout: attach,
		AttachStderr: attach,
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if cmd.Flags().Changed("entrypoint") {
		cfg.Entrypoint = []string{}
		if f.entrypoint != "" {
			cfg.Entrypoint = []string{f.entrypoint}
		}
	}
	res, err := cl.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       f.name,
		Config:     cfg,
		HostConfig: &container.HostConfig{AutoRemove: f.rm, Runtime: f.runtime},
	})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

func newCreateCommand(c *CLI) *cobra.Command {
	var f containerFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			id, err := f.create(cmd.Context(), cmd, cl, args, false)
			if err != nil {
				return &StatusError{Code: 125, Msg: err.Error()}
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	f.add(cmd.Flags())
	return cmd
}
