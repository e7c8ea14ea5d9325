// Package archive applies layer tars to a directory. Layer tars are hostile
// input: every path is resolved inside the target with openat2
// (RESOLVE_IN_ROOT), so neither "..", absolute paths, symlinked parents nor
// hardlinks can reach outside it, and the final component is never followed.
package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	// containerd's classes, which pkg/errdefs's are, without its gRPC mapping:
	// ctl links this package, and gRPC's and protobuf's inits cost its start-up.
	errdefs "github.com/containerd/errdefs"
)

// WhiteoutMode says what a whiteout entry becomes.
type WhiteoutMode int

const (
	// OverlayWhiteouts writes overlayfs whiteouts: a 0/0 character device for
	// ".wh.NAME" and trusted.overlay.opaque=y for ".wh..wh..opq". Use it when
	// applying into an overlay upper directory.
	OverlayWhiteouts WhiteoutMode = iota
	// RemoveWhiteouts deletes what a whiteout hides. Use it when applying into
	// a mounted (merged) filesystem.
	RemoveWhiteouts
	// KeepWhiteouts gives ".wh." names no meaning: they are plain entries,
	// as in the archives `docker cp` sends.
	KeepWhiteouts
)

const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

// Options of Apply.
type Options struct {
	Whiteouts WhiteoutMode
	// NoOverwriteDirNonDir refuses an entry that would replace a directory
	// with a non-directory or the reverse (docker cp's noOverwriteDirNonDir).
	NoOverwriteDirNonDir bool
	// Chown, when set, owns every entry by Chown.UID:Chown.GID instead of
	// the owner the tar names.
	Chown *Owner
	// NoDevices refuses character and block device entries: for a target
	// whose owner could not make them itself (a container without
	// CAP_MKNOD, or in a user namespace).
	NoDevices bool
	// MapOwner, when set, turns each owner (the tar's, or Chown) into the
	// one to write: a container's IDs into the host's, for a target in a
	// user namespace.
	MapOwner func(uid, gid int) (int, int, error)
}

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

func (a *applier) owner(hdr *tar.Header) (int, int, error) {
	uid, gid := hdr.Uid, hdr.Gid
	if a.opts.Chown != nil {
		uid, gid = a.opts.Chown.UID, a.opts.Chown.GID
	}
	if a.opts.MapOwner != nil {
		return a.opts.MapOwner(uid, gid)
	}
	return uid, gid, nil
}

// Result of Apply.
type Result struct {
	// DiffID is the digest of the uncompressed tar stream.
	DiffID digest.Digest
	// Size is the size of the uncompressed tar stream.
	Size int64
}

// Decompress returns a reader of the uncompressed stream, detecting gzip
// and zstd by their magic bytes.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// One goroutine and a bounded window: layers are hostile, a frame
		// must not make us allocate gigabytes.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zstdCloser{zr}, nil
	}
	return io.NopCloser(br), nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) {
	n, err := z.Decoder.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("zstd layer: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return n, err
}

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// DiffID computes the digest of the uncompressed stream r.
func DiffID(r io.Reader) (digest.Digest, error) {
	dr, err := Decompress(r)
	if err != nil {
		return "", err
	}
	defer dr.Close()
	dg := digest.SHA256.Digester()
	if _, err := io.Copy(dg.Hash(), dr); err != nil {
		return "", fmt.Errorf("layer: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return dg.Digest(), nil
}

type dirTime struct {
	name  string
	mtime time.Time
	atime time.Time
}

type applier struct {
	rootfd int
	opts   Options
	// paths written by this layer (RemoveWhiteouts mode keeps them on opaque).
	written map[string]bool
	dirs    []dirTime
	// Speed-ups for the common run of files in one directory, dropped
	// (invalidate) whenever an entry may change how a path resolves: a
	// removal, a whiteout, a symlink or a hardlink. dirOK holds
	// directories known to exist; cdir/cfd is the last parent opened.
	dirOK map[string]bool
	cdir  string
	cfd   int
}

func (a *applier) invalidate() {
	clear(a.dirOK)
	if a.cfd >= 0 {
		unix.Close(a.cfd)
	}
	a.cdir, a.cfd = "", -1
}

// cachedParent is parent for regular files: the fd stays cached (do not
// close it).
func (a *applier) cachedParent(rel string) (int, string, error) {
	dir, base := path.Split(rel)
	if a.cfd >= 0 && dir == a.cdir {
		return a.cfd, base, nil
	}
	fd, base, err := a.parent(rel)
	if err != nil {
		return -1, "", err
	}
	if a.cfd >= 0 {
		unix.Close(a.cfd)
	}
	a.cdir, a.cfd = dir, fd
	return fd, base, nil
}

// Apply extracts the (possibly compressed) layer tar r into dir.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Result, error) {
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("apply layer: open %s: %w", dir, err)
	}
	defer unix.Close(rootfd)
	return ApplyAt(ctx, rootfd, r, opts)
}

// ApplyAt extracts the (possibly compressed) tar r below the directory fd
// rootfd, which every entry stays in.
func ApplyAt(ctx context.Context, rootfd int, r io.Reader, opts Options) (Result, error) {
	dr, err := Decompress(r)
	if err != nil {
		return Result{}, err
	}
	defer dr.Close()
	return applyAt(ctx, rootfd, dr, opts)
}

func applyAt(ctx context.Context, rootfd int, dr io.Reader, opts Options) (Result, error) {
	dg := digest.SHA256.Digester()
	cr := &countReader{r: io.TeeReader(dr, dg.Hash())}
	a := &applier{rootfd: rootfd, opts: opts, written: map[string]bool{}, dirOK: map[string]bool{}, cfd: -1}
	defer a.invalidate()

	tr := NewReader(cr)
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("layer tar: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if err := a.entry(hdr, tr); err != nil {
			return Result{}, entryError(hdr.Name, err)
		}
	}
	// Trailing padding belongs to the diff ID.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return Result{}, fmt.Errorf("layer tar: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	// Directory times last, deepest first, so children do not change them.
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		pfd, base, err := a.parent(d.name)
		if err != nil {
			continue
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.atime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
		unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(pfd)
	}
	return Result{DiffID: dg.Digest(), Size: cr.n}, nil
}

// entryError classes a failed entry: the host's trouble (disk full, I/O)
// stays as it is, anything else is the layer's fault (a path that resolves
// nowhere inside the root, a link to what is not there...): InvalidArgument.
func entryError(name string, err error) error {
	for _, e := range []error{unix.ENOSPC, unix.EDQUOT, unix.EIO, unix.EROFS, unix.ENOMEM, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return fmt.Errorf("tar entry %q: %w", name, err)
		}
	}
	if errdefs.IsInvalidArgument(err) {
		return fmt.Errorf("tar entry %q: %w", name, err)
	}
	return fmt.Errorf("tar entry %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// clean turns a tar name into a relative path without "." components.
// A name with a ".." component is refused: no legitimate layer has one.
func clean(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("path %q contains \"..\": %w", name, errdefs.ErrInvalidArgument)
		}
	}
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p, nil
}

// parent opens the parent directory of rel inside the root (never outside,
// whatever symlinks it crosses) and returns it with the final component.
func (a *applier) parent(rel string) (int, string, error) {
	dir, base := path.Split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := unix.Openat2(a.rootfd, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, "", fmt.Errorf("open parent %q: %w", dir, err)
	}
	return fd, base, nil
}

// mkdirAll creates the parent directories of rel that are missing (0755,
// as Docker does for entries whose parent the tar does not list).
func (a *applier) mkdirAll(rel string) error {
	dir := path.Dir(rel)
	if dir == "." || dir == "/" || a.dirOK[dir] {
		return nil
	}
	defer func() { a.dirOK[dir] = true }()
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		pfd, base, err := a.parent(cur)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir %q: %w", cur, err)
		}
	}
	return nil
}

func procPath(fd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + base
}

func (a *applier) entry(hdr *tar.Header, tr io.Reader) error {
	rel, err := clean(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" || rel == "." {
		return nil // the root itself: keep the target's metadata
	}
	whiteout := a.opts.Whiteouts != KeepWhiteouts && strings.HasPrefix(path.Base(rel), whPrefix)
	if whiteout || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA && hdr.Typeflag != tar.TypeDir) {
		a.invalidate()
	}
	if err := a.mkdirAll(rel); err != nil {
		return err
	}
	var (
		pfd  int
		base string
	)
	if !whiteout && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) {
		pfd, base, err = a.cachedParent(rel)
	} else {
		pfd, base, err = a.parent(rel)
		if err == nil {
			defer unix.Close(pfd)
		}
	}
	if err != nil {
		return err
	}

	// Whiteouts.
	if whiteout && base == whOpaque {
		if a.opts.Whiteouts == OverlayWhiteouts {
			return unix.Setxattr(procPath(pfd, ""), "trusted.overlay.opaque", []byte("y"), 0)
		}
		dirRel := path.Dir(rel)
		ents, err := os.ReadDir(procPath(pfd, ""))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !a.written[path.Join(dirRel, e.Name())] {
				if err := os.RemoveAll(procPath(pfd, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if whiteout {
		name := strings.TrimPrefix(base, whPrefix)
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("bad whiteout: %w", errdefs.ErrInvalidArgument)
		}
		if err := os.RemoveAll(procPath(pfd, name)); err != nil {
			return err
		}
		if a.opts.Whiteouts == OverlayWhiteouts {
			return unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
		}
		return nil
	}

	isReg := hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA
	if isReg {
		// Most files are new: create first, and look at what is there
		// only when something is.
		return a.regular(hdr, tr, pfd, base, rel)
	}
	if err := a.replace(hdr, pfd, base); err != nil {
		return err
	}
	return a.create(hdr, tr, pfd, base, rel)
}

// replace removes what is at base, unless both it and the entry are
// directories.
func (a *applier) replace(hdr *tar.Header, pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if a.opts.NoOverwriteDirNonDir && isDir != (hdr.Typeflag == tar.TypeDir) {
			if isDir {
				return fmt.Errorf("cannot overwrite directory %q with non-directory %q: %w", base, hdr.Name, errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q: %w", base, hdr.Name, errdefs.ErrInvalidArgument)
		}
		if !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
			// Something goes (a directory, or a symlink paths went
			// through): every path resolves anew; pfd itself stays valid.
			clear(a.dirOK)
			if a.cfd >= 0 && a.cfd != pfd {
				unix.Close(a.cfd)
				a.cdir, a.cfd = "", -1
			}
			if err := os.RemoveAll(procPath(pfd, base)); err != nil {
				return err
			}
		}
	}
	return nil
}

// regular writes a regular file and its metadata through its own fd.
func (a *applier) regular(hdr *tar.Header, tr io.Reader, pfd int, base, rel string) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, base, flags, 0o600)
	if errors.Is(err, unix.EEXIST) {
		if err := a.replace(hdr, pfd, base); err != nil {
			return err
		}
		fd, err = unix.Openat(pfd, base, flags, 0o600)
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if _, err := io.Copy(f, tr); err != nil {
		return err
	}
	a.written[rel] = true
	uid, gid, err := a.owner(hdr)
	if err != nil {
		return err
	}
	if err := unix.Fchown(fd, uid, gid); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("chown: %w", err)
	}
	if len(hdr.PAXRecords) > 0 {
		if err := setXattrs(procPath(pfd, base), hdr); err != nil {
			return err
		}
	}
	// After chown, which clears setuid bits.
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("utimes: %w", err)
	}
	return f.Close()
}

func setXattrs(p string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if strings.HasPrefix(x, "trusted.overlay.") {
				// overlayfs's own metadata (redirects, metacopy, opaque): a layer
				// may not forge it; whiteouts are the only way to express it.
				continue
			}
			if err := unix.Lsetxattr(p, x, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("xattr %s: %w", x, err)
			}
		}
	}
	return nil
}

// create makes every entry but regular files.
func (a *applier) create(hdr *tar.Header, tr io.Reader, pfd int, base, rel string) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		a.dirOK[rel] = true
	case tar.TypeSymlink:
		// The target is stored as is: it is only ever resolved inside the root.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		lrel, err := clean(hdr.Linkname)
		if err != nil {
			return err
		}
		if lrel == "" {
			return fmt.Errorf("hardlink to the root: %w", errdefs.ErrInvalidArgument)
		}
		lfd, lbase, err := a.parent(lrel)
		if err != nil {
			return err
		}
		// Flags 0: a symlink target is linked itself, never followed.
		err = unix.Linkat(lfd, lbase, pfd, base, 0)
		unix.Close(lfd)
		if err != nil {
			return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
		}
		a.written[rel] = true
		return nil // a hardlink shares the target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if a.opts.NoDevices && hdr.Typeflag != tar.TypeFifo {
			return fmt.Errorf("device node: not allowed here: %w", errdefs.ErrInvalidArgument)
		}
		m := uint32(unix.S_IFIFO)
		if hdr.Typeflag == tar.TypeChar {
			m = unix.S_IFCHR
		} else if hdr.Typeflag == tar.TypeBlock {
			m = unix.S_IFBLK
		}
		if err := unix.Mknodat(pfd, base, m|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
	a.written[rel] = true

	// Metadata: owner, mode, xattrs, times, never following the entry.
	uid, gid, err := a.owner(hdr)
	if err != nil {
		return err
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("lchown: %w", err)
	}
	if err := setXattrs(procPath(pfd, base), hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// After chown, which clears setuid bits.
		if err := chmodNoFollow(pfd, base, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirs = append(a.dirs, dirTime{name: rel, mtime: hdr.ModTime, atime: atime})
		return nil
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("utimes: %w", err)
	}
	return nil
}
