package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/runtime/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func execCommand(g *globals) *cobra.Command {
	var (
		processFile, pidFile, consoleSocket, cwd, user string
		env, capsAdd                                   []string
		addGids                                        []int
		detach, tty, noNewPrivs                        bool
		preserveFds                                    int
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] ID [COMMAND [ARG...]]",
		Short: "run a new process in a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cgroupprime.Start() // placing the process comes a few ms later
			if preserveFds < 0 {
				return errors.New("--preserve-fds must not be negative")
			}
			id := args[0]
			var p *specs.Process
			if processFile != "" {
				b, err := os.ReadFile(processFile)
				if err != nil {
					return err
				}
				p = &specs.Process{}
				if err := json.Unmarshal(b, p); err != nil {
					return fmt.Errorf("parse --process %s: %w", processFile, err)
				}
			} else {
				if len(args) < 2 {
					return errors.New("exec: a command (or --process) is required")
				}
				var err error
				if p, err = container.DefaultProcess(g.root, id); err != nil {
					return err
				}
				p.Args = args[1:]
				p.Terminal = tty
				if cwd != "" {
					p.Cwd = cwd
				}
				p.Env = append(p.Env, env...)
				if user != "" {
					u, gr, _ := strings.Cut(user, ":")
					uid, err := strconv.ParseUint(u, 10, 32)
					if err != nil {
						return fmt.Errorf("--user %q: numeric uid[:gid] expected", user)
					}
					p.User.UID = uint32(uid)
					if gr != "" {
						gid, err := strconv.ParseUint(gr, 10, 32)
						if err != nil {
							return fmt.Errorf("--user %q: numeric uid[:gid] expected", user)
						}
						p.User.GID = uint32(gid)
					}
				}
				for _, gid := range addGids {
					p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
				}
				if len(capsAdd) > 0 {
					if p.Capabilities == nil {
						p.Capabilities = &specs.LinuxCapabilities{}
					}
					c := p.Capabilities
					c.Bounding = append(c.Bounding, capsAdd...)
					c.Effective = append(c.Effective, capsAdd...)
					c.Permitted = append(c.Permitted, capsAdd...)
				}
				if noNewPrivs {
					p.NoNewPrivileges = true
				}
			}
			code, err := container.Exec(container.ExecOpts{
				Root: g.root, ID: id, Process: p, PidFile: pidFile,
				ConsoleSocket: consoleSocket, Detach: detach, PreserveFds: preserveFds,
			})
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&processFile, "process", "p", "", "process.json (OCI process) to run instead of COMMAND")
	f.BoolVarP(&detach, "detach", "d", false, "do not wait for the process")
	f.StringVar(&pidFile, "pid-file", "", "file to write the process's pid to")
	f.StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringVar(&cwd, "cwd", "", "working directory in the container")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	f.StringVarP(&user, "user", "u", "", "uid[:gid]")
	f.IntSliceVarP(&addGids, "additional-gids", "g", nil, "additional gids")
	f.StringArrayVarP(&capsAdd, "cap", "c", nil, "add a capability")
	f.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privileges")
	f.IntVar(&preserveFds, "preserve-fds", 0, "pass N fds after stdio (3 .. 2+N) on to the process")
	return cmd
}
