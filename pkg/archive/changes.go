package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ChangeKind is what happened to a path, with Docker's values
// (GET /containers/{id}/changes).
type ChangeKind int

const (
	ChangeModify ChangeKind = iota
	ChangeAdd
	ChangeDelete
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return "C"
}

// Change is one path ("/etc/passwd") a layer added, changed or deleted.
type Change struct {
	Path string
	Kind ChangeKind
}

type diffEntryKind int

const (
	diffEntryUpper    diffEntryKind = iota // the path as it is in the upper tree
	diffEntryWhiteout                      // ".wh.NAME": NAME was deleted
	diffEntryOpaque                        // ".wh..wh..opq": the directory hides its lower content
)

type diffEntry struct {
	rel  string // relative, no leading "/"
	kind diffEntryKind
}

// Diff is what an upper tree changed against a lower one: the change list
// (`docker diff`) and the entries of the layer that records it.
type Diff struct {
	Changes []Change
	upper   string
	entries []diffEntry
}

// DiffOverlay computes the diff of an overlayfs upper directory against the
// lower tree it sits on (a read-only view of the parent; "" for none).
// Overlay's whiteouts (0/0 character devices) become ".wh." entries and its
// opaque directories (trusted.overlay.opaque=y) ".wh..wh..opq" entries; the
// kinds follow dockerd's overlay2 driver (an opaque directory that existed
// below is reported deleted, its new content added).
//
// Paths in exclude ("/etc/hostname") are left out, with their content.
func DiffOverlay(upper, lower string, exclude []string) (*Diff, error) {
	uw, lw, err := openDiffTrees(upper, lower)
	if err != nil {
		return nil, err
	}
	defer uw.close()
	defer lw.close()
	d := &Diff{upper: upper}
	reported := map[string]bool{}
	skip, noMtime := diffExcluder(exclude), diffExcludedParents(exclude)
	err = diffWalk(upper, skip, func(rel string, fi fs.FileInfo) error {
		if isOverlayWhiteout(fi) {
			d.entries = append(d.entries, diffEntry{rel: rel, kind: diffEntryWhiteout})
			d.add(reported, rel, ChangeDelete)
			return nil
		}
		d.entries = append(d.entries, diffEntry{rel: rel})
		below, err := lw.lstat(rel)
		if err != nil {
			return err
		}
		if fi.IsDir() && uw.isOpaque(rel) {
			d.entries = append(d.entries, diffEntry{rel: rel, kind: diffEntryOpaque})
			if below != nil {
				d.add(reported, rel, ChangeDelete)
				return nil
			}
		}
		switch {
		case below == nil:
			d.add(reported, rel, ChangeAdd)
		case fi.IsDir() && below.IsDir() && diffSameDir(fi, below, noMtime[filepath.ToSlash(rel)]):
			// Only copied up because something below it changed.
		default:
			d.add(reported, rel, ChangeModify)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", upper, err)
	}
	d.sort()
	return d, nil
}

// DiffTrees computes the diff of a whole tree (a copy of lower, changed)
// against lower ("" for none), comparing metadata as dockerd's naive diff
// does: owner, mode, size, modification time, link target, device.
func DiffTrees(upper, lower string, exclude []string) (*Diff, error) {
	uw, lw, err := openDiffTrees(upper, lower)
	if err != nil {
		return nil, err
	}
	defer uw.close()
	defer lw.close()
	d := &Diff{upper: upper}
	reported := map[string]bool{}
	skip, noMtime := diffExcluder(exclude), diffExcludedParents(exclude)
	err = diffWalk(upper, skip, func(rel string, fi fs.FileInfo) error {
		below, err := lw.lstat(rel)
		if err != nil {
			return err
		}
		switch {
		case below == nil:
			d.add(reported, rel, ChangeAdd)
		case fi.IsDir() && below.IsDir() && diffSameDir(fi, below, noMtime[filepath.ToSlash(rel)]):
			return nil
		case !fi.IsDir() && diffSameFile(fi, below, func() (string, string, error) { return diffLinks(uw, lw, rel) }):
			return nil
		default:
			d.add(reported, rel, ChangeModify)
		}
		d.entries = append(d.entries, diffEntry{rel: rel})
		return nil
	})
	if err == nil && lw.fd >= 0 {
		err = diffWalk(lower, skip, func(rel string, fi fs.FileInfo) error {
			now, err := uw.lstat(rel)
			if err != nil {
				return err
			}
			if now == nil {
				d.entries = append(d.entries, diffEntry{rel: rel, kind: diffEntryWhiteout})
				d.add(reported, rel, ChangeDelete)
				if fi.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if fi.IsDir() && !now.IsDir() {
				return filepath.SkipDir // replaced: the new entry replaces it all
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", upper, err)
	}
	d.sort()
	return d, nil
}

// excluder tells whether a relative path is one of exclude (absolute).
func diffExcluder(exclude []string) func(string) bool {
	set := map[string]bool{}
	for _, e := range exclude {
		set[path.Clean("/"+e)] = true
	}
	return func(rel string) bool { return set["/"+filepath.ToSlash(rel)] }
}

// excludedParents are the directories holding excluded paths: making a
// mount point there changes their modification time, which is then no
// change of the directory's.
func diffExcludedParents(exclude []string) map[string]bool {
	set := map[string]bool{}
	for _, e := range exclude {
		if d := path.Dir(path.Clean("/" + e)); d != "/" {
			set[strings.TrimPrefix(d, "/")] = true
		}
	}
	return set
}

// walk calls fn for every path below root (not root itself), parents
// before children and names in lexical order, leaving out what skip says;
// fn returning filepath.SkipDir skips a directory's content. Every step is
// an openat2 below root that follows no symlink: a running container that
// swaps a directory for a symlink mid-walk cannot lead it to host files
// (what vanished or became a symlink in a parent's place is passed over).
func diffWalk(root string, skip func(string) bool, fn func(rel string, fi fs.FileInfo) error) error {
	t, err := openDiffTree(root)
	if err != nil {
		return err
	}
	defer t.close()
	var visit func(dir string) error
	visit = func(dir string) error {
		names, err := t.names(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			rel := filepath.Join(dir, n)
			if skip(rel) {
				continue
			}
			fi, err := t.lstat(rel)
			if err != nil {
				return err
			}
			if fi == nil {
				continue
			}
			if err := fn(rel, fi); err == filepath.SkipDir {
				continue
			} else if err != nil {
				return err
			}
			if fi.IsDir() {
				if err := visit(rel); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return visit("")
}

// add records a change and, as dockerd does, the parent directory of an
// added or deleted path as changed when nothing was reported for it.
func (d *Diff) add(reported map[string]bool, rel string, k ChangeKind) {
	p := "/" + filepath.ToSlash(rel)
	if k != ChangeModify {
		if dir := path.Dir(p); dir != "/" && !reported[dir] {
			reported[dir] = true
			d.Changes = append(d.Changes, Change{Path: dir, Kind: ChangeModify})
		}
	}
	if !reported[p] {
		reported[p] = true
		d.Changes = append(d.Changes, Change{Path: p, Kind: k})
	}
}

func (d *Diff) sort() {
	sort.Slice(d.Changes, func(i, j int) bool { return d.Changes[i].Path < d.Changes[j].Path })
	// Component-wise, a directory's opaque marker right after it: parents
	// come before children, as a layer needs.
	key := func(e diffEntry) []string {
		parts := strings.Split(filepath.ToSlash(e.rel), "/")
		switch e.kind {
		case diffEntryOpaque:
			parts = append(parts, "")
		case diffEntryWhiteout:
			parts[len(parts)-1] = whPrefix + parts[len(parts)-1]
		}
		return parts
	}
	sort.SliceStable(d.entries, func(i, j int) bool {
		a, b := key(d.entries[i]), key(d.entries[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
}

// Empty tells whether the diff changes nothing: its layer would hold at
// most directories copied up only because of excluded paths below them
// (a container's mount points, made by the runtime at its create), which
// applied change nothing.
func (d *Diff) Empty() bool { return len(d.Changes) == 0 }

func isOverlayWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

func (l diffTree) isOpaque(rel string) bool {
	fd, err := l.open(rel)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	b := make([]byte, 4)
	n, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", fd), "trusted.overlay.opaque", b)
	return err == nil && n == 1 && b[0] == 'y'
}

func diffOwner(fi fs.FileInfo) (uint32, uint32) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid, st.Gid
	}
	return 0, 0
}

func diffSameDir(a, b fs.FileInfo, ignoreMtime bool) bool {
	au, ag := diffOwner(a)
	bu, bg := diffOwner(b)
	return a.Mode() == b.Mode() && au == bu && ag == bg && (ignoreMtime || a.ModTime().Equal(b.ModTime()))
}

func diffSameFile(a, b fs.FileInfo, links func() (string, string, error)) bool {
	if a.Mode() != b.Mode() || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
		return false
	}
	au, ag := diffOwner(a)
	bu, bg := diffOwner(b)
	if au != bu || ag != bg {
		return false
	}
	as, _ := a.Sys().(*syscall.Stat_t)
	bs, _ := b.Sys().(*syscall.Stat_t)
	if as != nil && bs != nil && as.Rdev != bs.Rdev {
		return false
	}
	if a.Mode()&fs.ModeSymlink != 0 {
		t1, t2, err := links()
		return err == nil && t1 == t2
	}
	return true
}

// pairLinks reads the symlink rel in both trees.
func diffLinks(a, b diffTree, rel string) (string, string, error) {
	t1, err := a.readlink(rel)
	if err != nil {
		return "", "", err
	}
	t2, err := b.readlink(rel)
	return t1, t2, err
}

// diffTree looks paths up below a root without following any symlink, so
// that a symlink in one tree never makes the diff look at host files.
type diffTree struct{ fd int }

// openTrees opens the upper and lower trees of a diff.
func openDiffTrees(upper, lower string) (diffTree, diffTree, error) {
	uw, err := openDiffTree(upper)
	if err != nil {
		return uw, uw, err
	}
	lw, err := openDiffTree(lower)
	if err != nil {
		uw.close()
	}
	return uw, lw, err
}

func openDiffTree(dir string) (diffTree, error) {
	if dir == "" {
		return diffTree{fd: -1}, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return diffTree{}, fmt.Errorf("open %s: %w", dir, err)
	}
	return diffTree{fd: fd}, nil
}

func (l diffTree) close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
	}
}

func (l diffTree) open(rel string) (int, error) {
	return unix.Openat2(l.fd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// lstat returns rel's info in the tree, nil when it is not there (or only
// through a symlinked parent).
func (l diffTree) lstat(rel string) (fs.FileInfo, error) {
	if l.fd < 0 {
		return nil, nil
	}
	fd, err := l.open(rel)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return fi, nil
}

// names lists the directory rel ("" for the root), sorted.
func (l diffTree) names(rel string) ([]string, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(l.fd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil, nil // gone or swapped since it was listed
		}
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	sort.Strings(names)
	return names, nil
}

func (l diffTree) readlink(rel string) (string, error) {
	fd, err := l.open(rel)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// WriteTar writes the layer recording the diff as an uncompressed tar:
// entries in path order, parents first, with owners, modes, times, symlinks,
// hardlinks within the layer, devices and the security.capability and
// user.* xattrs. Content is read from the upper tree without following any
// symlink in it, so a container's symlinks cannot put host files in a layer.
func (d *Diff) WriteTar(ctx context.Context, w io.Writer) error {
	ut, err := openDiffTree(d.upper)
	if err != nil {
		return err
	}
	defer ut.close()
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	dirs := map[string]bool{}
	var writeUpper func(rel string) error
	writeUpper = func(rel string) error {
		if parent := filepath.Dir(rel); parent != "." && !dirs[parent] {
			if err := writeUpper(parent); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return d.writeEntry(tw, ut, rel, links, dirs)
	}
	for _, e := range d.entries {
		switch e.kind {
		case diffEntryUpper:
			if dirs[e.rel] {
				continue
			}
			if err := writeUpper(e.rel); err != nil {
				return err
			}
		case diffEntryWhiteout, diffEntryOpaque:
			dir, name := filepath.Dir(e.rel), whPrefix+filepath.Base(e.rel)
			if e.kind == diffEntryOpaque {
				dir, name = e.rel, whOpaque
			}
			if dir != "." && !dirs[dir] {
				if err := writeUpper(dir); err != nil {
					return err
				}
			}
			hdr := &tar.Header{Name: filepath.Join(dir, name), Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func (d *Diff) writeEntry(tw *tar.Writer, ut diffTree, rel string, links map[[2]uint64]string, dirs map[string]bool) error {
	fd, err := ut.open(rel)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	var target string
	if fi.Mode()&fs.ModeSymlink != 0 {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		target = string(buf[:n])
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	hdr.Name = filepath.ToSlash(rel)
	if fi.IsDir() {
		hdr.Name += "/"
		dirs[rel] = true
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			k := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[k] = hdr.Name
			}
		}
		if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		}
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		layerXattrs(fmt.Sprintf("/proc/self/fd/%d", fd), hdr)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	rfd, err := unix.Openat2(ut.fd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	rf := os.NewFile(uintptr(rfd), rel)
	defer rf.Close()
	// A file that changed since the stat is cut or padded to the header's
	// size, keeping the tar well-formed.
	n, err := io.Copy(tw, io.LimitReader(rf, hdr.Size))
	if err == nil && n < hdr.Size {
		_, err = io.Copy(tw, io.LimitReader(diffZeros{}, hdr.Size-n))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

type diffZeros struct{}

func (diffZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// readXattrs adds the xattrs a layer carries (as dockerd: file
// capabilities; and user.*) to hdr.
func layerXattrs(p string, hdr *tar.Header) {
	buf := make([]byte, 4096)
	n, err := unix.Listxattr(p, buf)
	if err != nil || n <= 0 {
		return
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name != "security.capability" && !strings.HasPrefix(name, "user.") {
			continue
		}
		val := make([]byte, 64*1024)
		m, err := unix.Getxattr(p, name, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val[:m])
	}
}
