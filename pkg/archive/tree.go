package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	// containerd's classes, which pkg/errdefs's are, without its gRPC mapping:
	// ctl links this package, and gRPC's and protobuf's inits cost its start-up.
	errdefs "github.com/containerd/errdefs"
)

// OpenInRoot opens p (O_PATH) below the directory fd root as if root were
// "/": "..", absolute symlinks and symlinked parents never lead out of it.
// With follow false a final symlink is opened itself. A missing path is
// ErrNotFound.
func OpenInRoot(root int, p string, follow bool) (int, error) {
	flags := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	var fd int
	var err error
	for range 16 { // EAGAIN: a rename raced the lookup
		fd, err = unix.Openat2(root, p, &unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("%s: %w: %w", p, err, errdefs.ErrNotFound)
	case errors.Is(err, unix.ELOOP):
		return -1, fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
	case err != nil:
		return -1, fmt.Errorf("open %s: %w", p, err)
	}
	return fd, nil
}

// PathInRoot is the path of fd as seen from the directory fd root, or ""
// when the kernel cannot tell (fd is not below root).
func PathInRoot(root, fd int) string {
	r, err1 := os.Readlink("/proc/self/fd/" + strconv.Itoa(root))
	p, err2 := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err1 != nil || err2 != nil {
		return ""
	}
	if r == "/" {
		return p
	}
	if p == r {
		return "/"
	}
	if rest, ok := strings.CutPrefix(p, r+"/"); ok {
		return "/" + rest
	}
	return ""
}

// WriteTree writes the entry name of the directory dirfd as a tar to w,
// with everything below it when it is a directory, keeping owners, modes,
// times, symlinks, hardlinks and device nodes. Entries are named prefix,
// prefix/child...; with prefix "" the entry itself is left out and its
// children are named relative to it (a whole root filesystem). Every
// lookup is relative to an fd and follows no symlink, so a tree that
// changes while it is read (a running container) cannot lead out of it.
func WriteTree(ctx context.Context, w io.Writer, dirfd int, name, prefix string) error {
	return WriteTreeOwners(ctx, w, dirfd, name, prefix, nil)
}

// WriteTreeOwners is WriteTree with each owner turned by owners (a host's
// IDs into a user namespace's) when it is set.
func WriteTreeOwners(ctx context.Context, w io.Writer, dirfd int, name, prefix string, owners func(uid, gid int) (int, int)) error {
	tw := tar.NewWriter(w)
	t := &treeWriter{ctx: ctx, tw: tw, links: map[[2]uint64]string{}, buf: make([]byte, 1<<20), owners: owners}
	if err := t.entry(dirfd, name, prefix); err != nil {
		return err
	}
	return tw.Close()
}

type treeWriter struct {
	ctx    context.Context
	tw     *tar.Writer
	links  map[[2]uint64]string
	buf    []byte
	owners func(uid, gid int) (int, int)
}

func (t *treeWriter) entry(dirfd int, name, tarName string) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", tarName, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if tarName != "" {
		if err := t.header(dirfd, name, tarName, &st); err != nil {
			return err
		}
	}
	if !isDir {
		return nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", tarName, err)
	}
	d := os.NewFile(uintptr(fd), tarName)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("%s: %w", tarName, err)
	}
	slices.Sort(names) // archives of the same tree are identical
	for _, n := range names {
		child := n
		if tarName != "" {
			child = strings.TrimSuffix(tarName, "/") + "/" + n // "/" names "/x"
		}
		if err := t.entry(fd, n, child); err != nil {
			return err
		}
	}
	return nil
}

func (t *treeWriter) header(dirfd int, name, tarName string, st *unix.Stat_t) error {
	hdr := &tar.Header{
		Name:    tarName,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	if t.owners != nil {
		hdr.Uid, hdr.Gid = t.owners(hdr.Uid, hdr.Gid)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return fmt.Errorf("%s: %w", tarName, err)
		}
		hdr.Linkname = target
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				t.links[key] = tarName
			}
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets have no tar form
	}
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeDir {
		// The xattrs a layer keeps (file capabilities, user.*), as
		// dockerd's archives carry them; read through an O_PATH fd that
		// follows no symlink.
		if pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
			layerXattrs(fmt.Sprintf("/proc/self/fd/%d", pfd), hdr)
			unix.Close(pfd)
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", tarName, err)
	}
	f := os.NewFile(uintptr(fd), tarName)
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil || fst.Mode&unix.S_IFMT != unix.S_IFREG {
		// Swapped for a fifo or device since the stat: never read it.
		return fmt.Errorf("%s: changed while read: %w", tarName, errdefs.ErrConflict)
	}
	// The size in the header is what the stat saw: a file that changed
	// since is cut or padded to it, keeping the tar well-formed.
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err == nil && n < hdr.Size {
		_, err = io.CopyN(t.tw, zeroReader{}, hdr.Size-n)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tarName, err)
	}
	return nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
