// Package imageconfig applies Dockerfile metadata instructions (CMD,
// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR,
// STOPSIGNAL, HEALTHCHECK, SHELL) to an image config, as dockerd does for
// `docker commit --change` and `docker import --change`, and as the
// builder does for a Dockerfile's metadata steps. Instructions are parsed
// with buildkit's Dockerfile parser, so quoting, JSON forms, flags and
// variable expansion are the same as in a Dockerfile.
package imageconfig

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

// Config is the image config instructions change (Docker's form, with
// Healthcheck, OnBuild and Shell).
type Config = dockerspec.DockerOCIImageConfig

// ErrNotMetadata is returned for an instruction that is not a change of
// metadata (RUN, COPY, FROM...): the caller (the builder) handles it.
var ErrNotMetadata = errors.New("not a metadata instruction")

// CommitChanges are the instructions `docker commit --change` and
// `docker import --change` accept (dockerd's list).
var CommitChanges = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true,
}

// Applier applies instructions in order to Config. It keeps what a
// sequence needs: whether CMD was set (ENTRYPOINT clears an inherited CMD,
// as in a Dockerfile).
type Applier struct {
	Config *Config
	// Env, when set, is the environment variables are expanded from (the
	// builder adds its build args); nil uses Config.Env.
	Env    func() []string
	cmdSet bool
}

// New returns an Applier changing cfg.
func New(cfg *Config) *Applier { return &Applier{Config: cfg} }

// Parse parses one Dockerfile instruction line into a command.
func Parse(line string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(line))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", line, invalid(err))
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("%q: want one instruction, got %d: %w", line, len(res.AST.Children), errdefs.ErrInvalidArgument)
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", line, invalid(err))
	}
	return cmd, nil
}

func invalid(err error) error { return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument) }

// ApplyChanges applies `--change` lines as dockerd does for commit and
// import: each must be one of CommitChanges; the first that is not, or does
// not parse, is an InvalidArgument error naming it, and cfg is then left
// as it was.
func ApplyChanges(cfg *Config, changes []string) error {
	work := clone(*cfg)
	a := New(&work)
	for _, c := range changes {
		if strings.TrimSpace(c) == "" {
			continue
		}
		res, err := parser.Parse(strings.NewReader(c))
		if err != nil {
			return fmt.Errorf("--change %q: %w", c, invalid(err))
		}
		for _, n := range res.AST.Children {
			if !CommitChanges[strings.ToLower(n.Value)] {
				return fmt.Errorf("%s is not a valid change command: %w", n.Value, errdefs.ErrInvalidArgument)
			}
			cmd, err := instructions.ParseCommand(n)
			if err != nil {
				return fmt.Errorf("--change %q: %w", c, invalid(err))
			}
			if err := a.ApplyCommand(cmd); err != nil {
				return fmt.Errorf("--change %q: %w", c, err)
			}
		}
	}
	*cfg = work
	return nil
}

// clone copies the maps and slices of cfg, so a failed ApplyChanges
// leaves the caller's config untouched.
func clone(c Config) Config {
	c.Env = append([]string(nil), c.Env...)
	c.Cmd = append([]string(nil), c.Cmd...)
	c.Entrypoint = append([]string(nil), c.Entrypoint...)
	c.OnBuild = append([]string(nil), c.OnBuild...)
	c.Shell = append([]string(nil), c.Shell...)
	if c.Labels != nil {
		m := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			m[k] = v
		}
		c.Labels = m
	}
	if c.ExposedPorts != nil {
		m := make(map[string]struct{}, len(c.ExposedPorts))
		for k := range c.ExposedPorts {
			m[k] = struct{}{}
		}
		c.ExposedPorts = m
	}
	if c.Volumes != nil {
		m := make(map[string]struct{}, len(c.Volumes))
		for k := range c.Volumes {
			m[k] = struct{}{}
		}
		c.Volumes = m
	}
	return c
}

// Apply parses and applies one instruction line.
func (a *Applier) Apply(line string) error {
	cmd, err := Parse(line)
	if err != nil {
		return err
	}
	return a.ApplyCommand(cmd)
}

// envGetter serves variable expansion from KEY=VALUE pairs.
type envGetter struct{ m map[string]string }

func (e envGetter) Get(k string) (string, bool) { v, ok := e.m[k]; return v, ok }
func (e envGetter) Keys() []string {
	out := make([]string, 0, len(e.m))
	for k := range e.m {
		out = append(out, k)
	}
	return out
}

func (a *Applier) expander() instructions.SingleWordExpander {
	env := a.Config.Env
	if a.Env != nil {
		env = a.Env()
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	lex := shell.NewLex('\\')
	return func(word string) (string, error) {
		s, _, err := lex.ProcessWord(word, envGetter{m})
		return s, err
	}
}

// ExpandWord expands the variables of word as the instructions do (the
// builder expands RUN, COPY and ADD with it).
func (a *Applier) ExpandWord(word string) (string, error) { return a.expander()(word) }

// Expander returns the expansion of word the instructions use.
func (a *Applier) Expander() instructions.SingleWordExpander { return a.expander() }

// ApplyCommand applies a parsed instruction. Instructions that are not
// metadata get ErrNotMetadata.
func (a *Applier) ApplyCommand(cmd instructions.Command) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(a.expander()); err != nil {
			return fmt.Errorf("%s: %w", cmd.Name(), invalid(err))
		}
	}
	c := a.Config
	switch cmd := cmd.(type) {
	case *instructions.CmdCommand:
		c.Cmd = a.shellForm(cmd.ShellDependantCmdLine)
		a.cmdSet = true
	case *instructions.EntrypointCommand:
		c.Entrypoint = a.shellForm(cmd.ShellDependantCmdLine)
		if !a.cmdSet {
			c.Cmd = nil
		}
	case *instructions.EnvCommand:
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
		}
	case *instructions.ExposeCommand:
		expand := a.expander()
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range cmd.Ports {
			p, err := expand(p)
			if err != nil {
				return fmt.Errorf("EXPOSE: %w", invalid(err))
			}
			ports, err := exposedPorts(p)
			if err != nil {
				return err
			}
			for _, port := range ports {
				c.ExposedPorts[port] = struct{}{}
			}
		}
	case *instructions.OnbuildCommand:
		c.OnBuild = append(c.OnBuild, cmd.Expression)
	case *instructions.UserCommand:
		c.User = cmd.User
	case *instructions.VolumeCommand:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range cmd.Volumes {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string: %w", errdefs.ErrInvalidArgument)
			}
			c.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		wd := cmd.Path
		if !path.IsAbs(wd) {
			wd = path.Join("/", c.WorkingDir, wd)
		}
		c.WorkingDir = path.Clean(wd)
	case *instructions.StopSignalCommand:
		if err := checkSignal(cmd.Signal); err != nil {
			return err
		}
		c.StopSignal = cmd.Signal
	case *instructions.HealthCheckCommand:
		c.Healthcheck = cmd.Health
	case *instructions.ShellCommand:
		c.Shell = append([]string(nil), cmd.Shell...)
	default:
		return fmt.Errorf("%s: %w", strings.ToUpper(cmd.Name()), ErrNotMetadata)
	}
	return nil
}

// shellForm turns a shell-form command line into the config's shell (or
// /bin/sh -c) running it; an exec form is kept as is.
func (a *Applier) shellForm(l instructions.ShellDependantCmdLine) []string {
	if !l.PrependShell {
		return append([]string{}, l.CmdLine...)
	}
	sh := a.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(l.CmdLine, " "))
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// exposedPorts parses "80", "80/udp" or "8000-8002/tcp" into the config's
// "PORT/PROTO" keys.
func exposedPorts(spec string) ([]string, error) {
	bad := func() error {
		return fmt.Errorf("invalid containerPort: %s: %w", spec, errdefs.ErrInvalidArgument)
	}
	port, proto, ok := strings.Cut(spec, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s: %w", proto, errdefs.ErrInvalidArgument)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, bad()
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, bad()
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

// checkSignal accepts what dockerd's signal parsing accepts: a number or a
// name with or without SIG.
func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 && !strings.HasPrefix(name, "SIGRTM") {
		return fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return nil
}
