package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
)

// copyRule says where a source's entries go and who owns them.
type copyRule struct {
	// dest is the absolute destination: the directory the source goes
	// into (destIsDir) or the file's new name.
	dest      string
	destIsDir bool
	// uid, gid own every entry (COPY without --chown: 0:0).
	uid, gid int
	// mode, when set, replaces the permission bits of every entry.
	mode *os.FileMode
	// symbolic, when set, changes the permission bits of every entry
	// (--chmod=u+x...).
	symbolic func(mode int64, isDir bool) int64
	// exclude, when set, drops the entries it matches (COPY --exclude),
	// by their path below a directory source or a file source's name.
	exclude *patternmatcher.PatternMatcher
	// keep, when set (COPY --parents), is the source's path kept below
	// dest: the entries go to dest/keep/...
	keep string
}

// excluded tells whether --exclude drops the entry name of a source
// whose first entry is top.
func (r copyRule) excluded(top string, topIsDir bool, name string) bool {
	if r.exclude == nil {
		return false
	}
	rel := path.Base(top)
	if topIsDir {
		rel = strings.TrimPrefix(strings.TrimPrefix(name, top), "/")
	}
	if rel == "" {
		return false
	}
	m, err := r.exclude.MatchesOrParentMatches(rel)
	return err == nil && m
}

// layerWriter writes the rewritten entries of COPY and ADD sources as one
// tar, and hashes what matters for the cache: names, types, modes,
// owners, link targets and contents, not times.
type layerWriter struct {
	tw  *tar.Writer
	sum hash.Hash
	// kinds has "file" or "dir" for each source added (copyComment).
	kinds []string
}

func newLayerWriter(w io.Writer) *layerWriter {
	return &layerWriter{tw: tar.NewWriter(w), sum: sha256.New()}
}

func (lw *layerWriter) digest() string { return "sha256:" + hex.EncodeToString(lw.sum.Sum(nil)) }

func (lw *layerWriter) close() error { return lw.tw.Close() }

func (lw *layerWriter) write(hdr *tar.Header, r io.Reader) error {
	fmt.Fprintf(lw.sum, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%d\n", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, hdr.Size)
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if _, err := io.Copy(io.MultiWriter(lw.tw, lw.sum), r); err != nil {
			return err
		}
	}
	return nil
}

// addSource copies the tar of one source (entries named from the
// source's last component: "name", "name/child"..., as archive.WriteTree
// and the supervisor's Export write them) into lw under rule. A directory
// source's own entry is left out: its contents go into the destination.
func (lw *layerWriter) addSource(r io.Reader, rule copyRule) (int, error) {
	tr := archive.NewReader(r)
	n := 0
	var top string
	topIsDir := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read source: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if top == "" {
			top, topIsDir = name, hdr.Typeflag == tar.TypeDir
			kind := "file"
			if topIsDir {
				kind = "dir"
			}
			lw.kinds = append(lw.kinds, kind)
			if topIsDir {
				continue
			}
		}
		target, ok := rule.target(top, topIsDir, name)
		if !ok || rule.excluded(top, topIsDir, name) {
			continue
		}
		out := *hdr
		out.Name = strings.TrimPrefix(target, "/")
		if out.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if out.Typeflag == tar.TypeLink {
			lt, ok := rule.target(top, topIsDir, strings.TrimSuffix(hdr.Linkname, "/"))
			if !ok {
				return n, fmt.Errorf("hardlink %s to %s outside the source: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
			}
			out.Linkname = strings.TrimPrefix(lt, "/")
		}
		out.Uid, out.Gid, out.Uname, out.Gname = rule.uid, rule.gid, "", ""
		if rule.mode != nil && out.Typeflag != tar.TypeSymlink {
			out.Mode = out.Mode&^0o7777 | modeBits(*rule.mode)
		} else if rule.symbolic != nil && out.Typeflag != tar.TypeSymlink {
			out.Mode = out.Mode&^0o7777 | rule.symbolic(out.Mode&0o7777, out.Typeflag == tar.TypeDir)
		}
		out.PAXRecords = nil
		out.Format = tar.FormatPAX
		if err := lw.write(&out, tr); err != nil {
			return n, err
		}
		n++
	}
}

// modeBits turns a FileMode into the tar's permission bits.
func modeBits(m os.FileMode) int64 {
	b := int64(m.Perm())
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// target maps the source entry name (below top) to its destination.
func (r copyRule) target(top string, topIsDir bool, name string) (string, bool) {
	rel, ok := strings.CutPrefix(name, top)
	if !ok || rel != "" && !strings.HasPrefix(rel, "/") {
		return "", false
	}
	switch {
	case r.keep != "":
		return path.Join(r.dest, r.keep, rel), true
	case topIsDir:
		return path.Join(r.dest, rel), true
	case r.destIsDir:
		return path.Join(r.dest, path.Base(top)+rel), true
	default:
		return path.Join(r.dest, rel), true
	}
}

// parseChmod reads an octal COPY --chmod (see parseSymbolic for the
// other form).
func parseChmod(s string) (*os.FileMode, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return nil, fmt.Errorf("invalid --chmod=%s: only octal modes (e.g. 0755) are supported: %w", s, errdefs.ErrInvalidArgument)
	}
	m := os.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return &m, nil
}

// writeLocal writes the tar of the context path onDisk (already resolved
// inside the context) to w, named from its last component.
func writeLocal(ctx context.Context, w io.Writer, onDisk string) error {
	dir, base := filepath.Split(onDisk)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if base == "" {
		base = "."
	}
	return archive.WriteTree(ctx, w, fd, base, base)
}

// addFile writes one regular file of content data (COPY <<EOF, ADD of a
// URL) at rule's destination.
func (lw *layerWriter) addFile(name string, data []byte, rule copyRule) error {
	p := rule.dest
	if rule.destIsDir {
		p = path.Join(rule.dest, name)
	}
	mode := int64(0o644)
	if rule.mode != nil {
		mode = modeBits(*rule.mode)
	} else if rule.symbolic != nil {
		mode = rule.symbolic(mode, false)
	}
	lw.kinds = append(lw.kinds, "file")
	hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)),
		Uid: rule.uid, Gid: rule.gid, ModTime: time.Now().Truncate(time.Second), Format: tar.FormatPAX}
	return lw.write(hdr, strings.NewReader(string(data)))
}

// addArchive extracts a local tar archive (ADD's auto-extraction) below
// rule.dest, keeping the archive's owners and modes as dockerd does.
func (lw *layerWriter) addArchive(r io.Reader, rule copyRule) error {
	dr, err := archive.Decompress(r)
	if err != nil {
		return err
	}
	defer dr.Close()
	lw.kinds = append(lw.kinds, "file")
	tr := archive.NewReader(dr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		out := *hdr
		out.Name = strings.TrimPrefix(path.Join(rule.dest, path.Clean("/"+hdr.Name)), "/")
		if out.Name == "" {
			continue
		}
		if out.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if out.Typeflag == tar.TypeLink {
			out.Linkname = strings.TrimPrefix(path.Join(rule.dest, path.Clean("/"+hdr.Linkname)), "/")
		}
		out.PAXRecords = nil
		out.Format = tar.FormatPAX
		if err := lw.write(&out, tr); err != nil {
			return err
		}
	}
}

// isArchive tells whether the file at p is a tar archive (plain or
// compressed), which ADD extracts.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	dr, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	defer dr.Close()
	_, err = tar.NewReader(dr).Next()
	return err == nil
}
