package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// containerFlags are the options create and run share.
type containerFlags struct {
	name, runtime, workdir, user, entrypoint, hostname string
	restart, detachKeys, memory                        string
	pidsLimit                                          int64
	env                                                []string
	rm, tty, interactive                               bool
}

func (f *containerFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringVar(&f.runtime, "runtime", "", "OCI runtime to use for this container")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set environment variables")
	fs.BoolVar(&f.rm, "rm", false, "automatically remove the container when it exits")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&f.hostname, "hostname", "", "container host name")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	fs.StringVar(&f.restart, "restart", "no", "restart policy to apply when a container exits (no, always, on-failure[:N], unless-stopped)")
	fs.StringVar(&f.detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit (e.g. 64m)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "tune container pids limit")
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
		OpenStdin:    f.interactive,
		StdinOnce:    f.interactive && attach,
		AttachStdin:  f.interactive && attach,
	}
	policy, err := parseRestart(f.restart)
	if err != nil {
		return "", err
	}
	hc := &container.HostConfig{AutoRemove: f.rm, Runtime: f.runtime, RestartPolicy: policy}
	if f.memory != "" {
		if hc.Memory, err = units.RAMInBytes(f.memory); err != nil {
			return "", fmt.Errorf("invalid argument %q for \"-m, --memory\" flag: %w", f.memory, err)
		}
	}
	if f.pidsLimit != 0 {
		hc.PidsLimit = &f.pidsLimit
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
		HostConfig: hc,
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

// parseRestart reads --restart: no, always, unless-stopped, on-failure[:N].
// The engine checks the policy; ctl only splits the count off.
func parseRestart(s string) (container.RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if hasN {
		v, err := strconv.Atoi(n)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = v
	}
	return p, nil
}
