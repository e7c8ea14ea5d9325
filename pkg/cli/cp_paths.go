package cli

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthd/berth/pkg/archive"
)

// The path rules of `docker cp`: which end is the container's, what a
// trailing "/" or "/." asserts, and how archive entries are renamed so
// that extracting them in a directory gives cp's result.

// copyInfo describes one end of a copy.
type copyInfo struct {
	Path   string
	Exists bool
	IsDir  bool
	// RebaseName, when set, is the name the archive's top entry takes (a
	// followed symlink copies under the link's name).
	RebaseName string
}

var (
	errCpNotDirectory = errors.New("not a directory")
	errCpDirNotExists = errors.New("no such directory")
	errCpCannotCopy   = errors.New("cannot copy directory")
)

// splitCpArg splits "CONTAINER:PATH"; an absolute path or one whose
// part before ":" starts with "." is local.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

func hasTrailingSep(p string) bool { return strings.HasSuffix(p, "/") }

func specifiesCurrentDir(p string) bool { return filepath.Base(p) == "." }

// assertsDirectory: "dir/" and "dir/." can only name a directory.
func assertsDirectory(p string) bool { return hasTrailingSep(p) || specifiesCurrentDir(p) }

// splitPathDirEntry splits a path into its directory and last entry,
// keeping "." for "dir/.".
func splitPathDirEntry(p string) (string, string) {
	cleaned := filepath.Clean(p)
	if specifiesCurrentDir(p) {
		cleaned += string(filepath.Separator) + "."
	}
	return filepath.Dir(cleaned), filepath.Base(cleaned)
}

// preserveTrailingDotOrSep puts back on cleaned what original ended with.
func preserveTrailingDotOrSep(cleaned, original string) string {
	if specifiesCurrentDir(original) && !specifiesCurrentDir(cleaned) {
		if !hasTrailingSep(cleaned) {
			cleaned += string(filepath.Separator)
		}
		cleaned += "."
	}
	if hasTrailingSep(original) && !hasTrailingSep(cleaned) {
		cleaned += string(filepath.Separator)
	}
	return cleaned
}

// resolveLocalPath makes p absolute, keeping a trailing "/" or "/.".
func resolveLocalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return preserveTrailingDotOrSep(abs, p), nil
}

// rebaseName is the name to give a copy whose path resolved (through a
// symlink) to resolved, and resolved with p's trailing "/" or "/.".
func rebaseName(p, resolved string) (string, string) {
	resolved = preserveTrailingDotOrSep(resolved, p)
	if filepath.Base(p) != filepath.Base(resolved) {
		return resolved, filepath.Base(p)
	}
	return resolved, ""
}

// localSource stats the local source of a copy into a container: its
// parent's symlinks resolved, its own too with followLink.
func localSource(p string, followLink bool) (copyInfo, error) {
	var resolved, rebase string
	if followLink {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return copyInfo{}, err
		}
		resolved, rebase = rebaseName(p, r)
	} else {
		dir, base := filepath.Split(p)
		rdir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return copyInfo{}, err
		}
		resolved = rdir + string(filepath.Separator) + base
		if hasTrailingSep(p) && filepath.Base(p) != filepath.Base(resolved) {
			rebase = filepath.Base(p)
		}
	}
	st, err := os.Lstat(resolved)
	if err != nil {
		return copyInfo{}, err
	}
	return copyInfo{Path: resolved, Exists: true, IsDir: st.IsDir(), RebaseName: rebase}, nil
}

// localDestination stats the local destination of a copy out of a
// container, following symlinks (a dangling one is created); a missing
// path needs an existing parent directory.
func localDestination(p string) (copyInfo, error) {
	orig := p
	st, err := os.Lstat(p)
	for n := 0; err == nil && st.Mode()&os.ModeSymlink != 0; n++ {
		if n > 10 {
			return copyInfo{}, errors.New("too many symlinks in " + orig)
		}
		var target string
		if target, err = os.Readlink(p); err != nil {
			return copyInfo{}, err
		}
		if !filepath.IsAbs(target) {
			parent, _ := splitPathDirEntry(p)
			target = filepath.Join(parent, target)
		}
		p = target
		st, err = os.Lstat(p)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return copyInfo{}, err
		}
		parent, _ := splitPathDirEntry(p)
		pst, err := os.Stat(parent)
		if err != nil {
			return copyInfo{}, err
		}
		if !pst.IsDir() {
			return copyInfo{}, errCpNotDirectory
		}
		return copyInfo{Path: p}, nil
	}
	return copyInfo{Path: p, Exists: true, IsDir: st.IsDir()}, nil
}

// prepareCopy says in which directory to extract an archive of src so
// that it lands at dst, and how to rename its top entry (oldBase to
// newBase; both "" when the names stay). The archive's top entry is
// already named src.RebaseName when that is set.
func prepareCopy(src, dst copyInfo) (dir, oldBase, newBase string, err error) {
	dstDir, dstBase := splitPathDirEntry(dst.Path)
	_, srcBase := splitPathDirEntry(src.Path)
	if src.RebaseName != "" {
		srcBase = src.RebaseName
	}
	switch {
	case dst.Exists && dst.IsDir:
		return dst.Path, "", "", nil
	case dst.Exists && src.IsDir:
		return "", "", "", errCpCannotCopy
	case !dst.Exists && !src.IsDir && assertsDirectory(dst.Path):
		return "", "", "", errCpDirNotExists
	}
	// A file onto a file, or anything onto a new name: the top entry
	// takes dst's name.
	return dstDir, srcBase, dstBase, nil
}

// rebaseEntries copies the tar r to w, renaming the entry oldBase (and
// what is below it) newBase.
func rebaseEntries(r io.Reader, w io.Writer, oldBase, newBase string) error {
	tr := archive.NewReader(r)
	tw := tar.NewWriter(w)
	rename := func(n string) string {
		if n == oldBase || strings.HasPrefix(n, oldBase+"/") {
			return newBase + n[len(oldBase):]
		}
		return n
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		h.Name = rename(h.Name)
		if h.Typeflag == tar.TypeLink {
			h.Linkname = rename(h.Linkname)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
