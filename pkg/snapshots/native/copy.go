package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CopyTree copies the tree at src to dst (which must not exist), keeping
// what a layer can carry: owners, modes (setuid, sticky), xattrs, times
// (directories set after their contents), hardlinks within the tree,
// symlinks, device nodes, fifos and sockets. File data is cloned (FICLONE)
// when src and dst share a filesystem that can, else copied in the kernel
// (copy_file_range), else through user space.
//
// src is a snapshot of ours, never mounted writable while it is copied, but
// its content came from hostile layers: nothing is followed. Entries are
// visited with lstat, symlinks are copied as links, and every path written
// is below a directory this copy made itself.
func CopyTree(ctx context.Context, src, dst string) error {
	c := &copier{links: map[[2]uint64]string{}, clone: true, cfr: true}
	type dirTimes struct {
		path string
		st   unix.Stat_t
	}
	var dirs []dirTimes
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		if err := c.copyEntry(p, target, &st); err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, dirTimes{target, st})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Last, deepest first: creating entries changed the directories' mtimes.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setTimes(dirs[i].path, &dirs[i].st); err != nil {
			return err
		}
	}
	return nil
}

type copier struct {
	links map[[2]uint64]string // (dev, inode) of a multiply linked source → its first copy
	// clone, cfr: whether FICLONE and copy_file_range still look worth
	// trying; one refusal for a reason of the filesystem turns them off.
	clone, cfr bool
}

func (c *copier) copyEntry(src, dst string, st *unix.Stat_t) error {
	mode := st.Mode & unix.S_IFMT
	if mode != unix.S_IFDIR && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			return unix.Linkat(unix.AT_FDCWD, first, unix.AT_FDCWD, dst, 0)
		}
		c.links[key] = dst
	}
	switch mode {
	case unix.S_IFDIR:
		if err := unix.Mkdir(dst, 0o700); err != nil && !(errors.Is(err, unix.EEXIST) && isDir(dst)) {
			return err
		}
	case unix.S_IFREG:
		// Regular files, the bulk of a tree, get their metadata through
		// the open descriptors: no path lookup per call.
		return c.copyFile(src, dst, st)
	case unix.S_IFLNK:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := unix.Symlink(link, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := unix.Mknod(dst, mode|0o600, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown file type %o", mode)
	}
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := copyXattrs(xattrPath(src), xattrPath(dst)); err != nil {
		return err
	}
	if mode != unix.S_IFLNK {
		// After chown, which clears setuid and setgid.
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, st.Mode&0o7777, 0); err != nil {
			return err
		}
	}
	if mode != unix.S_IFDIR {
		return setTimes(dst, st)
	}
	return nil
}

func isDir(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

func setTimes(p string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

func (c *copier) copyFile(src, dst string, st *unix.Stat_t) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	err = c.copyData(in, out, st.Size)
	if err == nil {
		err = unix.Fchown(int(out.Fd()), int(st.Uid), int(st.Gid))
	}
	if err == nil {
		err = copyXattrs(xattrFd(int(in.Fd())), xattrFd(int(out.Fd())))
	}
	if err == nil {
		// After chown, which clears setuid and setgid.
		err = unix.Fchmod(int(out.Fd()), st.Mode&0o7777)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return setTimes(dst, st)
}

// fallbackErr: the filesystem (or the pair of them) cannot do this kind of
// copy; anything else is a real failure.
func fallbackErr(err error) bool {
	return errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EPERM)
}

func (c *copier) copyData(in, out *os.File, size int64) error {
	if c.clone {
		err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
		if err == nil {
			return nil
		}
		if !fallbackErr(err) {
			return fmt.Errorf("clone: %w", err)
		}
		c.clone = false
	}
	if size == 0 {
		return nil
	}
	if c.cfr {
		var done int64
		for done < size {
			n, err := unix.CopyFileRange(int(in.Fd()), nil, int(out.Fd()), nil, int(min(size-done, 1<<30)), 0)
			if err != nil {
				if done == 0 && fallbackErr(err) {
					c.cfr = false
					break
				}
				return fmt.Errorf("copy_file_range: %w", err)
			}
			if n == 0 {
				break // the file shrank: copy what there is
			}
			done += int64(n)
		}
		if c.cfr {
			return nil
		}
	}
	_, err := io.Copy(out, in)
	return err
}

// xattrIO reads and writes the extended attributes of one file, by path
// (never following a symlink) or by descriptor.
type xattrIO interface {
	list(buf []byte) (int, error)
	get(name string, buf []byte) (int, error)
	set(name string, val []byte) error
}

type xattrPath string

func (p xattrPath) list(b []byte) (int, error)          { return unix.Llistxattr(string(p), b) }
func (p xattrPath) get(n string, b []byte) (int, error) { return unix.Lgetxattr(string(p), n, b) }
func (p xattrPath) set(n string, v []byte) error        { return unix.Lsetxattr(string(p), n, v, 0) }

type xattrFd int

func (f xattrFd) list(b []byte) (int, error)          { return unix.Flistxattr(int(f), b) }
func (f xattrFd) get(n string, b []byte) (int, error) { return unix.Fgetxattr(int(f), n, b) }
func (f xattrFd) set(n string, v []byte) error        { return unix.Fsetxattr(int(f), n, v, 0) }

// copyXattrs copies every extended attribute, trusted.* and security.*
// included (the copy runs as root).
func copyXattrs(src, dst xattrIO) error {
	var small [256]byte
	size, err := src.list(small[:])
	if errors.Is(err, unix.ERANGE) {
		if size, err = src.list(nil); err == nil {
			buf := make([]byte, size)
			size, err = src.list(buf)
			return copyNamed(src, dst, buf[:max(size, 0)], err)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	return copyNamed(src, dst, small[:max(size, 0)], err)
}

func copyNamed(src, dst xattrIO, names []byte, err error) error {
	if err != nil {
		return fmt.Errorf("listxattr: %w", err)
	}
	for _, name := range splitNul(names) {
		vsize, err := src.get(name, nil)
		if err != nil {
			return fmt.Errorf("getxattr %s: %w", name, err)
		}
		val := make([]byte, vsize)
		if vsize > 0 {
			if vsize, err = src.get(name, val); err != nil {
				return fmt.Errorf("getxattr %s: %w", name, err)
			}
		}
		if err := dst.set(name, val[:vsize]); err != nil {
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
