// Package build builds images from a Dockerfile, as dockerd's classic
// builder (POST /build) does. The Dockerfile is parsed with buildkit's
// parser and instructions packages; every step that changes the
// filesystem runs as an engine container (RUN) or writes into one (COPY,
// ADD) and becomes a layer through the same commit path as `docker
// commit`; metadata steps only change the config and add history. A cache
// keyed on the parent image, the instruction, the build args and, for COPY
// and ADD, the content of the sources reuses earlier steps.
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/imageconfig"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Images is the part of the image API a build uses besides the
// container store: pulling a FROM image and tagging the result.
type Images interface {
	Pull(ctx context.Context, ref string, auth *supervisorv1.RegistryAuth, platform *supervisorv1.Platform, fn images.ProgressFunc) (*client.Image, error)
	Tag(ctx context.Context, name string, target *client.Image) error
	// ReadBlob reads a blob of the content store (a --cache-from image's
	// manifest).
	ReadBlob(ctx context.Context, digest string) ([]byte, error)
}

// Builder builds images with the engine's containers.
type Builder struct {
	D      *containers.Daemon
	Images Images
	Cache  *Cache
	// Tmp is where build contexts are unpacked (emptied by the caller at
	// start).
	Tmp string
	Log *slog.Logger
}

// Options of one build (POST /build's parameters).
type Options struct {
	// Dockerfile is the Dockerfile's path in the context ("" for
	// Dockerfile).
	Dockerfile string
	// Tags are normalized names to record for the result.
	Tags []string
	// BuildArgs are --build-arg values (nil value: take the variable from
	// the environment, which a daemon does not have: unset).
	BuildArgs map[string]*string
	Labels    map[string]string
	NoCache   bool
	Pull      bool
	Target    string
	// NetworkMode of RUN containers: "" or "default" (the default
	// bridge), "bridge", "host", "none".
	NetworkMode string
	// KeepContainers keeps the containers of successful steps (--rm=false).
	KeepContainers bool
	// RunHost is the host config every RUN container starts from: the
	// resources, ulimits, extra hosts and security options of the build
	// (nil: none). Network and mounts are the step's own.
	RunHost *container.HostConfig
	// Secrets are RUN --mount=type=secret's secrets by id (ctl build
	// --secret); never stored, logged or part of a cache key.
	Secrets map[string][]byte
	// Auth is the registry credentials for pulls, by registry host.
	Auth map[string]*supervisorv1.RegistryAuth
	// CacheFrom are images whose steps the build may reuse (cachefrom.go).
	CacheFrom []string
}

// StepError is a failed step: Code is a RUN's exit code (the docker CLI
// exits with it).
type StepError struct {
	Code int
	Msg  string
}

func (e *StepError) Error() string { return e.Msg }

// predefinedArgs may be passed with --build-arg without an ARG line; they
// reach RUN's environment but not the image, as in dockerd.
var predefinedArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

// stageState is a stage being built.
type stageState struct {
	name    string
	index   int    // in the Dockerfile's stages
	imageID string // the last image made (or the base); "" for scratch
	img     dockerspec.DockerOCIImage
	applier *imageconfig.Applier
	pending []*supervisorv1.HistoryEntry // metadata steps since imageID
	key     string                       // cache chain key
	args    map[string]string            // ARGs declared in the stage, with values
	cached  bool                         // every step so far came from the cache
}

// runEnv is the environment RUN sees and expansion uses: the stage's ARGs
// under its ENV (ENV wins), then predefined args given with --build-arg.
func (st *stageState) runEnv(o *Options) []string {
	env := append([]string(nil), st.img.Config.Env...)
	have := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, k := range sortedKeys(st.args) {
		if !have[k] {
			env = append(env, k+"="+st.args[k])
			have[k] = true
		}
	}
	for k, v := range o.BuildArgs {
		if predefinedArgs[k] && v != nil && !have[k] {
			env = append(env, k+"="+*v)
		}
	}
	return env
}

// job is one build.
type job struct {
	b      *Builder
	o      Options
	out    *Output // the stage's (parallel.go), or the build's
	bc     *buildContext
	stages []instructions.Stage
	meta   map[string]string // global ARGs (before the first FROM); read-only once stages run
	step   int               // the last step number shown by this stage
	total  int
	// sources are the --cache-from images; read-only once stages run.
	sources []*cacheSource
	*shared
}

// Build runs a build of the context tar r and returns the image ID. Output
// goes to out as it happens; the returned error is also what the caller
// reports in the stream.
func (b *Builder) Build(ctx context.Context, r io.Reader, o Options, out *Output) (string, error) {
	bc, df, err := unpackContext(ctx, r, b.Tmp, o.Dockerfile)
	if err != nil {
		return "", err
	}
	defer bc.Close()
	res, err := parser.Parse(bytes.NewReader(df))
	if err != nil {
		return "", fmt.Errorf("dockerfile parse error: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	lint, err := newLinter(df, o.BuildArgs, out)
	if err != nil {
		return "", err
	}
	lintParserWarnings(lint, res)
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return "", fmt.Errorf("dockerfile parse error: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := lintError(lint); err != nil {
		return "", err
	}
	if len(stages) == 0 {
		return "", fmt.Errorf("the Dockerfile has no FROM: %w", errdefs.ErrInvalidArgument)
	}
	j := &job{b: b, o: o, out: out, bc: bc, stages: stages, meta: map[string]string{}, shared: newShared()}
	defer j.cleanup()
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			j.markUsed(kv.Key)
			if v, ok := o.BuildArgs[kv.Key]; ok && v != nil {
				j.meta[kv.Key] = *v
			} else if kv.Value != nil {
				v, err := j.expand(*kv.Value, j.metaEnv())
				if err != nil {
					return "", err
				}
				j.meta[kv.Key] = v
			}
		}
	}
	target := len(stages) - 1
	if o.Target != "" {
		target = -1
		for i, s := range stages {
			if strings.EqualFold(s.Name, o.Target) {
				target = i
			}
		}
		if target < 0 {
			return "", fmt.Errorf("failed to reach build target %s in Dockerfile: %w", o.Target, errdefs.ErrInvalidArgument)
		}
	}
	need, err := j.needed(target)
	if err != nil {
		return "", err
	}
	if j.sources, err = j.loadCacheSources(ctx); err != nil {
		return "", err
	}
	for i := 0; i <= target; i++ {
		if need[i] {
			j.total += 1 + len(stages[i].Commands)
		}
	}
	final, err := j.buildStages(ctx, need, target)
	if err != nil {
		return "", err
	}
	if err := j.applyLabels(final); err != nil {
		return "", err
	}
	id, err := j.finish(ctx, final)
	if err != nil {
		return "", err
	}
	var unused []string
	for k := range o.BuildArgs {
		if !j.isUsed(k) && !predefinedArgs[k] && k != checkArg {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		out.printf("[Warning] One or more build-args %v were not consumed\n", unused)
	}
	out.aux(id)
	if out.Quiet && out.S != nil {
		// What the docker CLI prints for -q: the stream, which is only
		// this (as dockerd sends it).
		out.S.Send(images.Message{Stream: id + "\n"})
	}
	out.printf("Successfully built %s\n", shortID(id))
	img, err := b.D.Supervisor().GetImage(ctx, id)
	if err != nil && len(o.Tags) > 0 {
		return "", err
	}
	// dockerd's classic builder sends a create event for the image of
	// each step it commits; here only the result is an image.
	b.D.EmitImage(ctx, events.ActionCreate, id, id, img)
	for _, t := range o.Tags {
		if err := b.Images.Tag(ctx, t, img); err != nil {
			return "", fmt.Errorf("tag %s: %w", t, err)
		}
		b.D.EmitImage(ctx, events.ActionTag, id, familiar(t), img)
		out.printf("Successfully tagged %s\n", familiar(t))
	}
	return id, nil
}

func familiar(name string) string {
	if n, err := reference.ParseNormalizedNamed(name); err == nil {
		return reference.FamiliarString(n)
	}
	return name
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// cleanup removes the helper containers a build made (COPY --from
// sources), also when it failed or was cancelled.
func (j *job) cleanup() {
	for _, id := range j.takeTmpRefs() {
		j.removeContainer(id)
	}
}

// removeContainer removes a step container, retrying a few times: a
// container just killed may hold its snapshot for a moment.
func (j *job) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for try := 0; try < 3; try++ {
		if err = j.b.D.RemoveContainer(ctx, id, true, true); err == nil || errdefs.IsNotFound(err) {
			return
		}
		time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
	}
	if j.b.Log != nil {
		j.b.Log.Warn("build: remove step container", "id", id, "err", err)
	}
}

// stageIndex finds an earlier stage by name or index.
func (j *job) stageIndex(ref string, before int) (int, bool) {
	for i := 0; i < before; i++ {
		if j.stages[i].Name != "" && strings.EqualFold(j.stages[i].Name, ref) {
			return i, true
		}
	}
	if n, err := parseIndex(ref); err == nil && n < before {
		return n, true
	}
	return 0, false
}

func parseIndex(s string) (int, error) {
	n := 0
	if s == "" {
		return 0, errors.New("empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func (j *job) metaEnv() []string {
	var env []string
	for k, v := range j.meta {
		env = append(env, k+"="+v)
	}
	return env
}

func (j *job) stepHeader(text string) {
	j.step++
	j.out.printf("Step %d/%d : %s\n", j.step, j.total, text)
}

// buildStage builds stage i: its base, then its instructions.
func (j *job) buildStage(ctx context.Context, i int) (*stageState, error) {
	s := j.stages[i]
	j.stepHeader(s.SourceCode)
	base, err := j.expand(s.BaseName, j.metaEnv())
	if err != nil {
		return nil, lineErr(s.Location, err)
	}
	if s.Platform != "" {
		p, err := j.expand(s.Platform, j.metaEnv())
		if err != nil {
			return nil, lineErr(s.Location, err)
		}
		if err := checkPlatform(p); err != nil {
			return nil, lineErr(s.Location, err)
		}
	}
	st := &stageState{name: s.Name, index: i, args: map[string]string{}, cached: true}
	if dep, ok := j.stageIndex(base, i); ok && j.builtStage(dep) != nil {
		prev := j.builtStage(dep)
		id, err := j.finish(ctx, prev)
		if err != nil {
			return nil, err
		}
		if err := j.fromImage(ctx, st, id); err != nil {
			return nil, err
		}
	} else if strings.EqualFold(base, "scratch") {
		st.img.Platform.OS, st.img.Platform.Architecture = "linux", runtime.GOARCH
		st.key = imageKey("scratch")
	} else {
		id, err := j.resolveImage(ctx, base, j.o.Pull)
		if err != nil {
			return nil, lineErr(s.Location, err)
		}
		if err := j.fromImage(ctx, st, id); err != nil {
			return nil, err
		}
	}
	st.applier = imageconfig.New(&st.img.Config)
	st.applier.Env = func() []string { return st.runEnv(&j.o) }
	if st.imageID != "" {
		j.out.printf(" ---> %s\n", shortID(st.imageID))
	}
	if err := j.onbuild(ctx, st); err != nil {
		return nil, lineErr(s.Location, err)
	}
	for _, c := range s.Commands {
		if err := j.dispatch(ctx, st, c); err != nil {
			if loc, ok := c.(interface{ Location() []parser.Range }); ok {
				return nil, lineErr(loc.Location(), err)
			}
			return nil, err
		}
	}
	return st, nil
}

// lineErr names the Dockerfile line of a failed step (a failed RUN's
// message keeps dockerd's words after it, and its exit code).
func lineErr(loc []parser.Range, err error) error {
	if len(loc) == 0 {
		return err
	}
	var se *StepError
	if errors.As(err, &se) {
		return &StepError{Code: se.Code, Msg: fmt.Sprintf("Dockerfile line %d: %s", loc[0].Start.Line, se.Msg)}
	}
	return fmt.Errorf("Dockerfile line %d: %w", loc[0].Start.Line, err)
}

// checkPlatform refuses a FROM --platform (os[/arch[/variant]]) that is
// not this host's.
func checkPlatform(p string) error {
	f := strings.SplitN(p, "/", 3)
	want := ocispec.Platform{OS: f[0]}
	if len(f) > 1 {
		want.Architecture = f[1]
	}
	if !platforms.OnHost(want) {
		return fmt.Errorf("platform %s: only this host's %s can be built: %w", p, platforms.Format(platforms.Host()), errdefs.ErrInvalidArgument)
	}
	return nil
}

// fromImage starts st on the image id.
func (j *job) fromImage(ctx context.Context, st *stageState, id string) error {
	img, err := j.b.D.Supervisor().GetImage(ctx, id)
	if err != nil {
		return err
	}
	cfg, err := j.b.D.Supervisor().DockerImageConfig(ctx, img)
	if err != nil {
		return err
	}
	st.imageID = img.GetConfig().GetDigest()
	st.img = dockerspec.DockerOCIImage{Config: cfg.Config}
	st.img.Platform = cfg.Platform
	st.key = imageKey(st.imageID)
	return nil
}

// resolveImage finds a FROM or COPY --from image, pulling it when it is
// not here (or always, with pull).
func (j *job) resolveImage(ctx context.Context, ref string, pull bool) (string, error) {
	name, fam, err := containers.NormalizeImageRef(ref)
	if err != nil {
		return "", err
	}
	if !pull {
		img, err := j.b.D.Supervisor().GetImage(ctx, name)
		if err == nil {
			return img.GetConfig().GetDigest(), nil
		}
		if !errdefs.IsNotFound(err) {
			return "", err
		}
	}
	if strings.HasPrefix(name, "sha256:") {
		return "", fmt.Errorf("no such image: %s: %w", ref, errdefs.ErrNotFound)
	}
	j.out.printf("%s: Pulling from %s\n", fam, fam)
	var auth *supervisorv1.RegistryAuth
	if n, err := reference.ParseNormalizedNamed(name); err == nil {
		auth = j.o.Auth[reference.Domain(n)]
	}
	img, err := j.b.Images.Pull(ctx, name, auth, nil, nil)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", fam, err)
	}
	j.out.printf("Status: Downloaded image for %s\n", fam)
	return img.GetConfig().GetDigest(), nil
}

// onbuild runs the base image's ONBUILD triggers, then clears them (the
// new image does not inherit them).
func (j *job) onbuild(ctx context.Context, st *stageState) error {
	triggers := st.img.Config.OnBuild
	st.img.Config.OnBuild = nil
	if len(triggers) == 0 {
		return nil
	}
	j.out.printf("# Executing %d build trigger", len(triggers))
	if len(triggers) > 1 {
		j.out.printf("s")
	}
	j.out.printf("\n")
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return fmt.Errorf("ONBUILD %s: %v: %w", t, err, errdefs.ErrInvalidArgument)
		}
		for _, n := range res.AST.Children {
			switch strings.ToLower(n.Value) {
			case "onbuild", "from", "maintainer":
				return fmt.Errorf("ONBUILD %s: %s isn't allowed as an ONBUILD trigger: %w", t, strings.ToUpper(n.Value), errdefs.ErrInvalidArgument)
			}
			c, err := instructions.ParseCommand(n)
			if err != nil {
				return fmt.Errorf("ONBUILD %s: %v: %w", t, err, errdefs.ErrInvalidArgument)
			}
			if err := j.run(ctx, st, c, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// dispatch runs one instruction of the stage.
func (j *job) dispatch(ctx context.Context, st *stageState, c instructions.Command) error {
	j.stepHeader(sourceOf(c))
	return j.run(ctx, st, c, false)
}

func sourceOf(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return c.Name()
}

func (j *job) run(ctx context.Context, st *stageState, c instructions.Command, trigger bool) error {
	text := sourceOf(c)
	switch c := c.(type) {
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			j.markUsed(kv.Key)
			v, given := j.o.BuildArgs[kv.Key]
			switch {
			case given && v != nil:
				st.args[kv.Key] = *v
			case kv.Value != nil:
				val, err := j.expand(*kv.Value, st.runEnv(&j.o))
				if err != nil {
					return err
				}
				st.args[kv.Key] = val
			default:
				if mv, ok := j.meta[kv.Key]; ok {
					st.args[kv.Key] = mv
				} else {
					st.args[kv.Key] = ""
				}
			}
		}
		return j.metadata(ctx, st, text, "ARG")
	case *instructions.MaintainerCommand:
		st.img.Author = c.Maintainer
		return j.metadata(ctx, st, text, "MAINTAINER")
	case *instructions.RunCommand:
		return j.runStep(ctx, st, c, text)
	case *instructions.CopyCommand:
		return j.copyStep(ctx, st, c, text)
	case *instructions.AddCommand:
		return j.addStep(ctx, st, c, text)
	default:
		if err := st.applier.ApplyCommand(c); err != nil {
			if errors.Is(err, imageconfig.ErrNotMetadata) {
				return fmt.Errorf("%s is not supported: %w", strings.ToUpper(c.Name()), errdefs.ErrInvalidArgument)
			}
			return err
		}
		return j.metadata(ctx, st, text, strings.ToUpper(c.Name()))
	}
}

// metadata records a step that changes only the config: a history entry
// without a layer; the image is composed with the next layer or at the
// end.
func (j *job) metadata(ctx context.Context, st *stageState, text, name string) error {
	st.key = chainKey(st.key, text, st.args, "")
	createdBy := "/bin/sh -c #(nop) " + text
	hit := false
	if _, ok := j.b.Cache.Get(st.key); ok && !j.o.NoCache && st.cached {
		hit = true
	} else if m, err := j.matchSource(ctx, st, createdBy, false); err != nil {
		return err
	} else {
		hit = m != nil
	}
	if hit {
		j.out.printf(" ---> Using cache\n")
	} else {
		st.cached = false
	}
	st.pending = append(st.pending, &supervisorv1.HistoryEntry{Created: time.Now().UnixNano(), CreatedBy: createdBy})
	if err := j.b.Cache.Put(st.key, st.imageID); err != nil && j.b.Log != nil {
		j.b.Log.Warn("build cache", "err", err)
	}
	if st.imageID != "" {
		j.out.printf(" ---> %s\n", shortID(st.imageID))
	}
	return nil
}

// applyLabels adds --label as a last metadata step, as dockerd does.
func (j *job) applyLabels(st *stageState) error {
	if len(j.o.Labels) == 0 {
		return nil
	}
	keys := sortedKeys(j.o.Labels)
	if st.img.Config.Labels == nil {
		st.img.Config.Labels = map[string]string{}
	}
	var parts []string
	for _, k := range keys {
		st.img.Config.Labels[k] = j.o.Labels[k]
		parts = append(parts, fmt.Sprintf("%q=%q", k, j.o.Labels[k]))
	}
	text := "LABEL " + strings.Join(parts, " ")
	st.key = chainKey(st.key, text, nil, "")
	st.pending = append(st.pending, &supervisorv1.HistoryEntry{Created: time.Now().UnixNano(), CreatedBy: "/bin/sh -c #(nop) " + text})
	return nil
}

// finish returns the image of the stage: the last layer's image when no
// metadata step followed it, else one composed of it and the pending
// metadata (reused from the cache when the same steps made one before).
func (j *job) finish(ctx context.Context, st *stageState) (string, error) {
	if len(st.pending) == 0 && st.imageID != "" {
		return st.imageID, nil
	}
	key := chainKey(st.key, "#finish", nil, "")
	if id, ok := j.cacheHit(ctx, key); ok {
		st.imageID, st.pending, st.key = id, nil, imageKey(id)
		return id, nil
	}
	if len(st.pending) > 0 {
		m, err := j.matchSource(ctx, st, "", false)
		if err != nil {
			return "", err
		}
		if m != nil {
			id, err := j.sourceImage(ctx, st, m)
			if err != nil {
				return "", fmt.Errorf("cache-from %s: %w", shortID(m.s.id), err)
			}
			j.remember(key, id)
			st.imageID, st.pending, st.key = id, nil, imageKey(id)
			return id, nil
		}
	}
	now := time.Now().UTC()
	img := st.img
	img.Created = &now
	id, err := j.b.D.ComposeImage(ctx, st.imageID, img, st.pending, "")
	if err != nil {
		return "", err
	}
	j.remember(key, id)
	st.imageID, st.pending, st.key = id, nil, imageKey(id)
	return id, nil
}

// cacheHit looks key up unless --no-cache; a hit whose image is gone is
// dropped.
func (j *job) cacheHit(ctx context.Context, key string) (string, bool) {
	if j.o.NoCache {
		return "", false
	}
	id, ok := j.b.Cache.Get(key)
	if !ok || id == "" {
		return "", false
	}
	if _, err := j.b.D.Supervisor().GetImage(ctx, id); err != nil {
		_ = j.b.Cache.Drop(key)
		return "", false
	}
	return id, true
}

func (j *job) remember(key, id string) {
	if err := j.b.Cache.Put(key, id); err != nil && j.b.Log != nil {
		j.b.Log.Warn("build cache", "err", err)
	}
}

// expand expands Dockerfile variables in word with env.
func (j *job) expand(word string, env []string) (string, error) {
	var cfg imageconfig.Config
	cfg.Env = env
	return imageconfig.New(&cfg).ExpandWord(word)
}

// image returns the stage's config as an image config for a new layer.
func (st *stageState) image() dockerspec.DockerOCIImage {
	img := st.img
	now := time.Now().UTC()
	img.Created = &now
	return img
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// RemoveLeftovers removes the step containers of builds an engine crash or
// restart cut short (they carry the step label; no build outlives the
// engine that ran it). Call it before the API serves builds.
func (b *Builder) RemoveLeftovers(ctx context.Context) int {
	n := 0
	for _, c := range b.D.List(true, 0) {
		if c.Config == nil || c.Config.Labels[stepLabel] == "" {
			continue
		}
		if err := b.D.RemoveContainer(ctx, c.ID, true, true); err != nil {
			if b.Log != nil {
				b.Log.Warn("build: remove a step container left by an earlier engine", "id", c.ID, "err", err)
			}
			continue
		}
		n++
	}
	return n
}
