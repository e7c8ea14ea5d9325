package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Values of --pull.
const (
	pullAlways  = "always"
	pullMissing = "missing"
	pullNever   = "never"
)

// createOptions are the flags create and run have beside the container's.
type createOptions struct {
	name, pull, platform string
	quiet, useAPISocket  bool
	// disableContentTrust is docker's --disable-content-trust (default
	// true); ctl has no content trust, so false is refused.
	disableContentTrust bool
}

func (o *createOptions) add(fs *pflag.FlagSet, verb string) {
	fs.StringVar(&o.name, "name", "", "Assign a name to the container")
	fs.StringVar(&o.pull, "pull", pullMissing, `Pull image before `+verb+` ("always", "missing", "never")`)
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
	fs.BoolVar(&o.useAPISocket, "use-api-socket", false, "Bind mount the engine's API socket")
	fs.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	fs.BoolVar(&o.disableContentTrust, "disable-content-trust", true, "Skip image verification")
}

// containerCommand builds run or create: docker's flags, parsed with
// interspersed flags off (everything after IMAGE is the command), flag
// errors reported as docker reports them.
func containerCommand(c *CLI, use, short, verb string, run func(cmd *cobra.Command, co *createOptions, o *containerOptions, args []string) error) (*cobra.Command, *pflag.FlagSet) {
	var co createOptions
	var o *containerOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOSFlags(cmd.Context(), cmd.Flags(), c); err != nil {
				return err
			}
			return run(cmd, &co, o, args)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	co.add(fs, verb)
	o = addContainerFlags(fs)
	return cmd, fs
}

func newCreateCommand(c *CLI) *cobra.Command {
	cmd, _ := containerCommand(c, "create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", "creating",
		func(cmd *cobra.Command, co *createOptions, o *containerOptions, args []string) error {
			cfg, err := co.prepare(cmd, c, o, args)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			id, err := createContainer(cmd.Context(), c, cl, cfg, co)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, id)
			return nil
		})
	return cmd
}

// prepare checks the command's own flags and parses the container's; a
// bad value fails with docker's message and status 125.
func (co *createOptions) prepare(cmd *cobra.Command, c *CLI, o *containerOptions, args []string) (*containerConfig, error) {
	if err := checkPull(co.pull); err != nil {
		return nil, withHelp(cmd, err)
	}
	if !co.disableContentTrust {
		return nil, withHelp(cmd, errors.New("--disable-content-trust=false: image signature verification (content trust) is not supported"))
	}
	if cl, err := c.connectAhead(); err == nil {
		o.daemonHost = cl.DaemonHost()
	}
	cfg, err := o.parse(cmd.Flags(), args[0], args[1:])
	if err != nil {
		return nil, withHelp(cmd, err)
	}
	warmCreateEncoder()
	return cfg, nil
}

// warmCreateEncoder has encoding/json build its encoder of the create
// request (some 150 fields in its types: 0.8-1.8 ms cold here) while the
// negotiation connectAhead started waits for engined's answer, instead of
// after it.
func warmCreateEncoder() {
	_, _ = json.Marshal(container.CreateRequest{
		Config: &container.Config{}, HostConfig: &container.HostConfig{}, NetworkingConfig: &network.NetworkingConfig{},
	})
}

func checkPull(v string) error {
	switch v {
	case pullAlways, pullMissing, pullNever, "":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of %q, %q or %q", v, pullAlways, pullMissing, pullNever)
}

// withHelp is docker's form for a bad command line: status 125, the
// error, and where to get help.
func withHelp(cmd *cobra.Command, err error) error {
	return &StatusError{Code: 125, Msg: fmt.Sprintf("%s: %s\n\nRun '%s --help' for more information", cmd.Root().Name(), err, cmd.CommandPath())}
}

// requiresMinArgs is docker's argument check, with its message.
func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		word := "argument"
		if n != 1 {
			word += "s"
		}
		return &StatusError{Code: 1, Msg: fmt.Sprintf("%s: '%s' requires at least %d %s\n\nUsage:  %s\n\nSee '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath(), n, word, cmd.UseLine(), cmd.CommandPath())}
	}
}

// createContainer is docker's create sequence: the --cidfile is claimed
// first, the image pulled first with --pull=always or after a "no such
// image" with --pull=missing, then the id written to the --cidfile.
func createContainer(ctx context.Context, c *CLI, cl *client.Client, cfg *containerConfig, co *createOptions) (string, error) {
	cid, err := newCIDFile(cfg.HostConfig.ContainerIDFile)
	if err != nil {
		return "", err
	}
	defer cid.close()

	var named reference.Named
	ref, err := reference.ParseAnyReference(cfg.Config.Image)
	if err != nil {
		return "", err
	}
	if n, ok := ref.(reference.Named); ok {
		named = reference.TagNameOnly(n)
	}
	var auths map[string]json.RawMessage
	if co.useAPISocket {
		if auths, err = apiSocket(cl.DaemonHost(), cfg); err != nil {
			return "", err
		}
	}
	var platform *ocispec.Platform
	if co.platform != "" {
		p, err := parsePlatform(co.platform)
		if err != nil {
			return "", fmt.Errorf("error parsing specified platform: %w", err)
		}
		platform = &p
	}
	pull := func() error {
		if named == nil {
			return fmt.Errorf("cannot pull %s: not a named reference", cfg.Config.Image)
		}
		return pullForCreate(ctx, c, cl, named, platform, co.quiet)
	}
	if co.pull == pullAlways {
		if err := pull(); err != nil {
			return "", err
		}
	}
	cfg.HostConfig.ConsoleSize = consoleSize(c.Out)
	opts := client.ContainerCreateOptions{
		Name: co.name, Config: cfg.Config, HostConfig: cfg.HostConfig,
		NetworkingConfig: cfg.NetworkingConfig, Platform: platform,
	}
	res, err := cl.ContainerCreate(ctx, opts)
	if err != nil {
		if !cerrdefs.IsNotFound(err) || named == nil || co.pull != pullMissing {
			return "", err
		}
		if !co.quiet {
			fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", reference.FamiliarString(named))
		}
		if err := pull(); err != nil {
			return "", err
		}
		if res, err = cl.ContainerCreate(ctx, opts); err != nil {
			return "", err
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(c.Err, "WARNING:", w)
	}
	if err := cid.write(res.ID); err != nil {
		return res.ID, err
	}
	if len(auths) > 0 {
		if err := copyAuthsIn(ctx, cl, res.ID, auths); err != nil {
			return "", err
		}
	}
	return res.ID, nil
}

// pullForCreate pulls through the API, the progress on stderr (stdout is
// for the id), nothing with -q.
func pullForCreate(ctx context.Context, c *CLI, cl *client.Client, named reference.Named, platform *ocispec.Platform, quiet bool) error {
	opts := client.ImagePullOptions{RegistryAuth: registryAuth(named.String())}
	if platform != nil {
		opts.Platforms = []ocispec.Platform{*platform}
	}
	res, err := cl.ImagePull(ctx, named.String(), opts)
	if err != nil {
		return err
	}
	defer res.Close()
	var out io.Writer = c.Err
	if quiet {
		out = io.Discard
	}
	return displayProgress(res, out, !quiet && isTerminal(c.Err))
}

// cidFile is --cidfile: created before the container (an existing file is
// an error, so that two containers never share one), removed again if no
// id was written.
type cidFile struct {
	path    string
	f       *os.File
	written bool
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, f: f}, nil
}

func (c *cidFile) write(id string) error {
	if c.f == nil {
		return nil
	}
	if _, err := c.f.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID to the file: %w", err)
	}
	c.written = true
	return nil
}

func (c *cidFile) close() {
	if c.f == nil {
		return
	}
	c.f.Close()
	if !c.written {
		_ = os.Remove(c.path)
	}
}

// parseRestart reads --restart as docker's CLI does: POLICY[:N], the
// policy name checked by the engine.
func parseRestart(s string) (container.RestartPolicy, error) {
	if s == "" {
		return container.RestartPolicy{}, nil
	}
	name, n, hasColon := strings.Cut(s, ":")
	if hasColon && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if n != "" {
		v, err := strconv.Atoi(n)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = v
	}
	return p, nil
}
