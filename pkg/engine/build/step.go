package build

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/patternmatcher"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// runStep runs a RUN instruction as a container on the stage's image and
// commits its changes as a layer.
func (j *job) runStep(ctx context.Context, st *stageState, c *instructions.RunCommand, text string) error {
	for _, f := range c.FlagsUsed {
		if f != "network" && f != "mount" {
			return fmt.Errorf("RUN --%s is not supported by this builder (--network and --mount are): %w", f, errdefs.ErrInvalidArgument)
		}
	}
	if err := c.Expand(st.applier.Expander()); err != nil {
		return fmt.Errorf("RUN: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var sec secretMounts
	defer sec.close()
	mounts, mountSum, err := j.runMounts(ctx, st, c, &sec)
	if err != nil {
		return err
	}
	argv, err := j.runArgv(st, c)
	if err != nil {
		return err
	}
	network := j.o.NetworkMode
	if n := instructions.GetNetwork(c); n != "" && n != instructions.NetworkDefault {
		network = n
	}
	if network == "default" {
		network = ""
	}
	key := chainKey(st.key, text+"\x00net="+network, st.args, mountSum)
	createdBy := strings.Join(argv, " ")
	if n := len(st.args); n > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", n, argsString(st.args), createdBy)
	}
	// A bind mount's content is not in created_by: such a RUN is only
	// taken from the local cache, whose key has it.
	fromSource := createdBy
	for _, m := range instructions.GetMounts(c) {
		if m.Type == instructions.MountTypeBind {
			fromSource = ""
		}
	}
	if hit, err := j.hit(ctx, st, key, fromSource); hit || err != nil {
		return err
	}
	st.cached = false
	cfg := &container.Config{
		Image:      st.imageID,
		Cmd:        argv,
		Entrypoint: []string{},
		Env:        append(st.runEnv(&j.o), sec.env...),
		User:       st.img.Config.User,
		WorkingDir: st.img.Config.WorkingDir,
		Labels:     map[string]string{stepLabel: "run"},
	}
	hc := &container.HostConfig{}
	if j.o.RunHost != nil {
		h := *j.o.RunHost
		hc = &h
	}
	hc.NetworkMode, hc.Mounts = container.NetworkMode(network), mounts
	id, err := j.stepContainer(ctx, st, cfg, hc, true)
	if err != nil {
		return err
	}
	j.out.printf(" ---> Running in %s\n", shortID(id))
	removed := false
	defer func() {
		if !removed {
			j.removeContainer(id)
		}
	}()
	code, err := j.runContainer(ctx, id)
	if err != nil {
		return err
	}
	if code != 0 {
		return &StepError{Code: code, Msg: fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(argv, " "), code)}
	}
	var targets []string
	for _, m := range mounts {
		targets = append(targets, path.Clean(m.Target))
	}
	newID, err := j.b.D.CommitStep(ctx, id, st.imageID, st.image(), st.pending, &supervisorv1.HistoryEntry{Created: time.Now().UnixNano(), CreatedBy: createdBy}, targets...)
	if err != nil {
		return err
	}
	if !j.o.KeepContainers {
		j.removeContainer(id)
		removed = true
		j.out.printf("Removing intermediate container %s\n", shortID(id))
	} else {
		removed = true
	}
	j.stepDone(st, key, newID)
	return nil
}

// stepLabel marks the containers a build makes.
const stepLabel = "io.berth.build.step"

func argsString(args map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(args) {
		parts = append(parts, k+"="+args[k])
	}
	return strings.Join(parts, " ")
}

// runArgv is the process of a RUN: the shell form through the stage's
// SHELL; a single heredoc (RUN <<EOF) becomes the shell's script.
func (j *job) runArgv(st *stageState, c *instructions.RunCommand) ([]string, error) {
	sh := st.img.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	if len(c.Files) > 0 {
		if len(c.Files) != 1 || !c.PrependShell || len(c.CmdLine) != 1 || !strings.HasPrefix(strings.TrimSpace(c.CmdLine[0]), "<<") {
			return nil, fmt.Errorf("RUN: only one heredoc that is the whole command (RUN <<EOF) is supported: %w", errdefs.ErrInvalidArgument)
		}
		return append(append([]string{}, sh...), c.Files[0].Data), nil
	}
	if !c.PrependShell {
		if len(c.CmdLine) == 0 {
			return nil, fmt.Errorf("RUN needs a command: %w", errdefs.ErrInvalidArgument)
		}
		return append([]string{}, c.CmdLine...), nil
	}
	return append(append([]string{}, sh...), strings.Join(c.CmdLine, " ")), nil
}

// hit reuses the cached result of a layer step: the local cache's entry
// for key, else the step a --cache-from image has for createdBy (""
// for none).
func (j *job) hit(ctx context.Context, st *stageState, key, createdBy string) (bool, error) {
	if !st.cached {
		return false, nil
	}
	id, ok := j.cacheHit(ctx, key)
	if !ok {
		if createdBy == "" {
			return false, nil
		}
		return j.hitSource(ctx, st, key, createdBy)
	}
	j.out.printf(" ---> Using cache\n")
	st.imageID, st.pending, st.key = id, nil, imageKey(id)
	j.out.printf(" ---> %s\n", shortID(id))
	return true, nil
}

func (j *job) stepDone(st *stageState, key, id string) {
	j.remember(key, id)
	st.imageID, st.pending, st.key = id, nil, imageKey(id)
	j.out.printf(" ---> %s\n", shortID(id))
}

// stepContainer creates the container of a step on the stage's image (an
// image with no layers first when the stage is FROM scratch); run says it
// is started (a RUN), else only its files are written and committed.
func (j *job) stepContainer(ctx context.Context, st *stageState, cfg *container.Config, hc *container.HostConfig, run bool) (string, error) {
	if st.imageID == "" {
		id, err := j.finish(ctx, st)
		if err != nil {
			return "", err
		}
		cfg.Image = id
	}
	c, err := j.b.D.Create(ctx, containers.CreateOptions{Config: cfg, HostConfig: hc, NoTaskAhead: !run})
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// runContainer starts the container, passes its output to the build's
// stream and returns its exit code. A cancelled build (the client went
// away) kills it.
func (j *job) runContainer(ctx context.Context, id string) (int, error) {
	attach, err := j.b.D.PrepareAttach(ctx, id, containers.AttachOptions{Stdout: true, Stderr: true, Stream: true})
	if err != nil {
		return 0, err
	}
	wait, err := j.b.D.PrepareWait(id, "next-exit")
	if err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- attach(j.out, j.out) }()
	if err := j.b.D.Start(ctx, id); err != nil {
		return 0, fmt.Errorf("start RUN container: %w", err)
	}
	code, err := wait(ctx)
	if err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return code, nil
}

// copyStep runs COPY: sources from the context, another stage or an
// image, written into a container of the stage's image and committed.
func (j *job) copyStep(ctx context.Context, st *stageState, c *instructions.CopyCommand, text string) error {
	if err := c.Expand(st.applier.Expander()); err != nil {
		return fmt.Errorf("COPY: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return j.copyFiles(ctx, st, copyArgs{text: text, sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
		exclude: c.ExcludePatterns, parents: c.Parents, link: c.Link, expand: st.applier.ExpandWord})
}

// addStep runs ADD: COPY's sources from the context, local tar archives
// extracted; remote URLs are fetched.
func (j *job) addStep(ctx context.Context, st *stageState, c *instructions.AddCommand, text string) error {
	if c.KeepGitDir != nil {
		return fmt.Errorf("ADD --keep-git-dir is not supported by this builder (no git sources): %w", errdefs.ErrInvalidArgument)
	}
	if err := c.Expand(st.applier.Expander()); err != nil {
		return fmt.Errorf("ADD: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	unpack := c.Unpack == nil || *c.Unpack
	return j.copyFiles(ctx, st, copyArgs{text: text, sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true, unpack: unpack,
		exclude: c.ExcludePatterns, checksum: c.Checksum, link: c.Link, expand: st.applier.ExpandWord})
}

type copyArgs struct {
	text         string
	sd           instructions.SourcesAndDest
	from         string
	chown, chmod string
	add, unpack  bool
	// exclude are --exclude patterns; parents is COPY --parents;
	// checksum is ADD --checksum (of a URL source).
	exclude  []string
	parents  bool
	checksum string
	// link is --link: the layer is made apart from the stage (link.go).
	link bool
	// expand expands a heredoc's variables (<<EOF, not <<"EOF").
	expand func(string) (string, error)
}

// copyFiles writes the sources' tar to a spool file (hashing it on the
// way for the cache key), then, on a miss, applies it into a container of
// the stage's image and commits that.
func (j *job) copyFiles(ctx context.Context, st *stageState, a copyArgs) error {
	name := "COPY"
	if a.add {
		name = "ADD"
	}
	mode, err := parseChmod(a.chmod)
	var symbolic func(int64, bool) int64
	if err != nil {
		if symbolic, err = parseSymbolic(a.chmod); err != nil {
			return err
		}
	}
	uid, gid, err := j.chown(ctx, st, a.chown)
	if err != nil {
		return err
	}
	dest := a.sd.DestPath
	destIsDir := strings.HasSuffix(dest, "/") || len(a.sd.SourcePaths)+len(a.sd.SourceContents) > 1
	if !path.IsAbs(dest) {
		wd := st.img.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
		if strings.HasSuffix(a.sd.DestPath, "/") || a.sd.DestPath == "." {
			destIsDir = true
		}
	}
	dest = path.Clean(dest)
	if dest == "/" {
		destIsDir = true
	}
	rule := copyRule{dest: dest, destIsDir: destIsDir, uid: uid, gid: gid, mode: mode, symbolic: symbolic}
	if len(a.exclude) > 0 {
		pm, err := patternmatcher.New(a.exclude)
		if err != nil {
			return fmt.Errorf("%s --exclude: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		rule.exclude = pm
	}
	if a.checksum != "" && (len(a.sd.SourcePaths) != 1 || !isURL(a.sd.SourcePaths[0])) {
		return fmt.Errorf("ADD --checksum needs a single http(s) source: %w", errdefs.ErrInvalidArgument)
	}

	spool, err := os.CreateTemp(j.b.Tmp, "layer-")
	if err != nil {
		return err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	lw := newLayerWriter(spool)
	var extra string
	if a.from != "" {
		extra, err = j.copyFrom(ctx, st, a, rule, lw)
	} else {
		err = j.copyLocal(ctx, a, rule, lw)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := lw.close(); err != nil {
		return err
	}
	key := chainKey(st.key, a.text, st.args, lw.digest()+" "+extra)
	createdBy := "/bin/sh -c #(nop) " + copyComment(name, a, lw)
	if hit, err := j.hit(ctx, st, key, createdBy); hit || err != nil {
		if hit && a.link {
			// The step's image ends with this --link layer (also when a
			// --cache-from image gave it): later builds may put it on
			// another parent.
			j.remember(linkKey(lw.digest()), st.imageID)
		}
		return err
	}
	st.cached = false
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if a.link {
		return j.copyLink(ctx, st, name, key, createdBy, lw.digest(), spool)
	}
	cfg := &container.Config{Image: st.imageID, Cmd: []string{"/bin/sh", "-c", "#(nop) " + a.text}, Entrypoint: []string{}, Labels: map[string]string{stepLabel: strings.ToLower(name)}}
	id, err := j.stepContainer(ctx, st, cfg, &container.HostConfig{NetworkMode: "none"}, false)
	if err != nil {
		return err
	}
	defer j.removeContainer(id)
	if err := j.b.D.ApplyArchive(ctx, id, spool); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	newID, err := j.b.D.CommitStep(ctx, id, st.imageID, st.image(), st.pending,
		&supervisorv1.HistoryEntry{Created: time.Now().UnixNano(), CreatedBy: createdBy})
	if err != nil {
		return err
	}
	j.stepDone(st, key, newID)
	return nil
}

// copyComment is a COPY or ADD step's created_by after "#(nop) ", in
// dockerd's form: "COPY [--link ][--chown=U ]file:<sha256> in DEST " (dir: for
// one directory source, multi: for several). The hash is of everything
// the layer gets (lw's digest: names below the destination, modes after
// --chmod, owners, link targets and bytes), so a --cache-from image's
// step matches only when the same files would be copied.
func copyComment(name string, a copyArgs, lw *layerWriter) string {
	kind := "multi"
	if len(lw.kinds) == 1 {
		kind = lw.kinds[0]
	}
	flags := ""
	if a.link {
		// A --link layer is the files alone, an ordinary one a diff
		// against its parent: a step of one kind is not the other's.
		flags = "--link "
	}
	if a.chown != "" {
		flags += "--chown=" + a.chown + " "
	}
	return fmt.Sprintf("%s %s%s:%s in %s ", name, flags, kind, strings.TrimPrefix(lw.digest(), "sha256:"), a.sd.DestPath)
}

// chown resolves --chown in the stage's image files (names need its
// /etc/passwd and /etc/group), as dockerd does; "" is 0:0.
func (j *job) chown(ctx context.Context, st *stageState, spec string) (int, int, error) {
	if spec == "" {
		return 0, 0, nil
	}
	u, err := j.b.D.ResolveImageUser(ctx, st.imageID, spec)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	return int(u.UID), int(u.GID), nil
}

// copyLocal adds the context sources (wildcards expanded) and heredocs.
func (j *job) copyLocal(ctx context.Context, a copyArgs, rule copyRule, lw *layerWriter) error {
	for _, sc := range a.sd.SourceContents {
		data := sc.Data
		if sc.Expand {
			var err error
			if data, err = a.expand(data); err != nil {
				return fmt.Errorf("heredoc %s: %v: %w", sc.Path, err, errdefs.ErrInvalidArgument)
			}
		}
		if err := lw.addFile(path.Base(sc.Path), []byte(data), rule); err != nil {
			return err
		}
	}
	for _, src := range a.sd.SourcePaths {
		if a.add && isURL(src) {
			if err := j.addURL(ctx, src, a.checksum, rule, lw); err != nil {
				return err
			}
			continue
		}
		matches := []string{src}
		if strings.ContainsAny(src, "*?[") {
			m, err := j.bc.glob(src)
			if err != nil {
				return err
			}
			if len(m) == 0 {
				return fmt.Errorf("no source files were specified: %s matches nothing in the build context: %w", src, errdefs.ErrInvalidArgument)
			}
			if len(m) > 1 && !rule.destIsDir {
				return fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /: %w", src, errdefs.ErrInvalidArgument)
			}
			matches = m
		}
		for _, m := range matches {
			onDisk, err := j.bc.resolve(m)
			if err != nil {
				if errdefs.IsNotFound(err) || os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") {
					return fmt.Errorf("file not found in build context or excluded by .dockerignore: stat %s: file does not exist: %w", m, errdefs.ErrInvalidArgument)
				}
				return err
			}
			if a.add && a.unpack && isArchive(onDisk) {
				f, err := os.Open(onDisk)
				if err != nil {
					return err
				}
				r := rule
				r.destIsDir = true
				err = lw.addArchive(f, r)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", m, err)
				}
				continue
			}
			r := rule
			if a.parents {
				r.keep = parentsKeep(m)
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeLocal(ctx, pw, onDisk)) }()
			_, err = lw.addSource(pr, r)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
		}
	}
	return nil
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// copyFrom adds sources from another stage's image or an image, read
// through a container made (never started) on it. It returns the source
// image's ID for the cache key.
func (j *job) copyFrom(ctx context.Context, st *stageState, a copyArgs, rule copyRule, lw *layerWriter) (string, error) {
	if len(a.sd.SourceContents) > 0 {
		return "", fmt.Errorf("--from with a heredoc source: %w", errdefs.ErrInvalidArgument)
	}
	imageID, cid, err := j.fromReader(ctx, st, a.from, "copy-from")
	if err != nil {
		return "", err
	}
	for _, src := range a.sd.SourcePaths {
		if strings.ContainsAny(src, "*?[") {
			return "", fmt.Errorf("--from=%s: wildcards in %s are not supported by this builder: %w", a.from, src, errdefs.ErrInvalidArgument)
		}
		p := path.Clean("/" + src)
		r := rule
		if a.parents {
			r.keep = parentsKeep(src)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(j.b.D.ExportArchive(ctx, cid, p, pw)) }()
		n, err := lw.addSource(pr, r)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return "", fmt.Errorf("--from=%s: %s: file does not exist: %w", a.from, src, errdefs.ErrInvalidArgument)
			}
			return "", fmt.Errorf("--from=%s: %s: %w", a.from, src, err)
		}
		_ = n
	}
	return imageID, nil
}

// fromReader resolves a --from (an earlier stage by name or index, else
// an image) to its image and makes a never-started container on it to
// read its files through, removed when the build ends.
func (j *job) fromReader(ctx context.Context, st *stageState, from, label string) (string, string, error) {
	var imageID string
	if dep, ok := j.stageIndex(from, st.index); ok {
		prev := j.builtStage(dep)
		if prev == nil {
			return "", "", fmt.Errorf("--from=%s: stage not built: %w", from, errdefs.ErrInvalidArgument)
		}
		id, err := j.finish(ctx, prev)
		if err != nil {
			return "", "", err
		}
		imageID = id
	} else {
		if _, err := parseIndex(from); err == nil {
			return "", "", fmt.Errorf("--from=%s: no such stage: %w", from, errdefs.ErrInvalidArgument)
		}
		id, err := j.resolveImage(ctx, from, false)
		if err != nil {
			return "", "", fmt.Errorf("--from=%s: %w", from, err)
		}
		imageID = id
	}
	c, err := j.b.D.Create(ctx, containers.CreateOptions{
		Config:      &container.Config{Image: imageID, Cmd: []string{"/bin/sh", "-c", "#(nop) --from=" + from}, Entrypoint: []string{}, Labels: map[string]string{stepLabel: label}},
		HostConfig:  &container.HostConfig{NetworkMode: "none"},
		NoTaskAhead: true,
	})
	if err != nil {
		return "", "", err
	}
	j.addTmpRef(c.ID)
	return imageID, c.ID, nil
}

// parentsKeep is the part of a COPY --parents source kept below the
// destination: the path after a "/./" pivot, else the whole (clean,
// relative) path, as BuildKit keeps it.
func parentsKeep(src string) string {
	if _, after, ok := strings.Cut(src, "/./"); ok {
		src = after
	}
	return strings.TrimPrefix(path.Clean("/"+src), "/")
}
