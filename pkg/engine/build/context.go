package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
)

// buildContext is the build context unpacked in a private directory, with
// what .dockerignore excludes already removed (so no COPY can see it).
type buildContext struct {
	dir string
}

// maxDockerfile is the largest Dockerfile read.
const maxDockerfile = 4 << 20

// unpackContext extracts the context tar (plain or compressed) r into a
// new directory under tmp, reads the Dockerfile named dockerfile (a path
// in the context) and then removes what .dockerignore excludes. The tar
// is hostile input: archive.Apply keeps every entry inside the directory.
func unpackContext(ctx context.Context, r io.Reader, tmp, dockerfile string) (*buildContext, []byte, error) {
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(tmp, "context-")
	if err != nil {
		return nil, nil, err
	}
	bc := &buildContext{dir: dir}
	ok := false
	defer func() {
		if !ok {
			bc.Close()
		}
	}()
	if _, err := archive.Apply(ctx, dir, r, archive.Options{Whiteouts: archive.KeepWhiteouts}); err != nil {
		return nil, nil, fmt.Errorf("build context: %w", err)
	}
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	df, err := bc.readFile(dockerfile, maxDockerfile)
	if errors.Is(err, fs.ErrNotExist) && dockerfile == "Dockerfile" {
		// dockerd also takes a lower-case name when the default is missing.
		df, err = bc.readFile("dockerfile", maxDockerfile)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("Cannot locate specified Dockerfile: %s: %w", dockerfile, errdefs.ErrInvalidArgument)
		}
		return nil, nil, fmt.Errorf("read Dockerfile %s: %w", dockerfile, err)
	}
	if strings.HasPrefix(path.Base(dockerfile), ".dockerfile.") {
		// A Dockerfile from outside the context (or stdin) that the
		// client added under a name of its own: not part of the context.
		os.Remove(filepath.Join(dir, path.Clean("/"+dockerfile)))
	}
	if err := bc.applyIgnore(); err != nil {
		return nil, nil, err
	}
	ok = true
	return bc, df, nil
}

// Close removes the unpacked context.
func (bc *buildContext) Close() { os.RemoveAll(bc.dir) }

// readFile reads a regular file of the context, resolved inside it.
func (bc *buildContext) readFile(name string, max int64) ([]byte, error) {
	root, err := os.OpenRoot(bc.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(strings.TrimPrefix(path.Clean("/"+name), "/"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", name, errdefs.ErrInvalidArgument)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", name, max, errdefs.ErrInvalidArgument)
	}
	return io.ReadAll(f)
}

// applyIgnore removes the paths .dockerignore excludes (patterns as
// moby/patternmatcher reads them, "!" exceptions included).
func (bc *buildContext) applyIgnore() error {
	b, err := bc.readFile(".dockerignore", maxDockerfile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	patterns, err := ignorefile.ReadAll(strings.NewReader(string(b)))
	if err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(patterns) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var remove []string
	err = filepath.WalkDir(bc.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(bc.dir, p)
		if rel == "." {
			return nil
		}
		m, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if m {
			remove = append(remove, p)
			// A directory with exceptions below it is kept for them.
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	// Deepest first: a matched directory that still holds an exception's
	// file is left (its own entry is removed only when empty).
	for i := len(remove) - 1; i >= 0; i-- {
		p := remove[i]
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if pm.Exclusions() {
				unix.Rmdir(p)
				continue
			}
			os.RemoveAll(p)
			continue
		}
		os.Remove(p)
	}
	return nil
}

// resolve returns the on-disk path of the context path p, its symlinks
// followed inside the context (as dockerd resolves COPY sources).
func (bc *buildContext) resolve(p string) (string, error) {
	rootfd, err := unix.Open(bc.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootfd)
	fd, err := archive.OpenInRoot(rootfd, path.Clean("/"+p), true)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	in := archive.PathInRoot(rootfd, fd)
	if in == "" {
		return "", fmt.Errorf("%s resolves outside the build context: %w", p, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(bc.dir, in), nil
}

// glob lists the context paths (relative, slash-separated) that pattern
// matches, sorted.
func (bc *buildContext) glob(pattern string) ([]string, error) {
	pattern = strings.TrimPrefix(path.Clean("/"+pattern), "/")
	var out []string
	err := filepath.WalkDir(bc.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(bc.dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		m, err := path.Match(pattern, rel)
		if err != nil {
			return fmt.Errorf("pattern %s: %v: %w", pattern, err, errdefs.ErrInvalidArgument)
		}
		if m {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}
