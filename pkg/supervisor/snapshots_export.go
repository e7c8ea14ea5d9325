package supervisor

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
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// exportChunk is the size of the data messages Export sends.
const exportChunk = 1 << 20

// Export streams a tar of the merged view of a snapshot (`docker export`).
// The snapshot may be in use by a running container, so its own mounts are
// not reused: overlay refuses a second mount on an upperdir in use. Instead
// the upper directory becomes the top lower layer of a read-only overlay,
// which shows the same merged tree, whiteouts applied.
func (ss *snapshotsService) Export(req *pb.ExportSnapshotRequest, stream pb.Snapshots_ExportServer) error {
	ctx := stream.Context()
	mounts, err := ss.s.snaps.Mounts(ctx, req.Key)
	if err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	ro, err := readOnlyMounts(mounts)
	if err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	dir, err := os.MkdirTemp("", "bx-export")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := snapshots.MountAll(ro, dir); err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	defer snapshots.Unmount(dir)
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&pb.ExportSnapshotResponse{Data: b}) }, buf: make([]byte, 0, exportChunk)}
	root, prefix := dir, ""
	if req.Path != "" && path.Clean("/"+req.Path) != "/" {
		real, err := resolveInRoot(dir, req.Path)
		if err != nil {
			return fmt.Errorf("export snapshot %s path %s: %w", req.Key, req.Path, err)
		}
		root, prefix = real, path.Base(path.Clean("/"+req.Path))
	}
	if err := writeTree(ctx, root, prefix, w); err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	return w.flush()
}

// resolveInRoot resolves p inside root as if root were "/" (symlinks
// included, none leading out) and returns the host path it names.
func resolveInRoot(root, p string) (string, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, root, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	// The last component is not followed: a symlink is exported as one.
	dir, base := path.Split(path.Clean("/" + p))
	dfd, err := unix.Openat2(fd, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return "", notFoundIfMissing(err)
	}
	defer unix.Close(dfd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", dfd))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(real+"/", root+"/") {
		return "", fmt.Errorf("%s resolves outside the snapshot: %w", p, errdefs.ErrInvalidArgument)
	}
	full := filepath.Join(real, base)
	if _, err := os.Lstat(full); err != nil {
		return "", notFoundIfMissing(err)
	}
	return full, nil
}

func notFoundIfMissing(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return err
}

// readOnlyMounts turns an active snapshot's mounts into a read-only view.
func readOnlyMounts(ms []snapshots.Mount) ([]snapshots.Mount, error) {
	var out []snapshots.Mount
	for _, m := range ms {
		if m.Type != "overlay" {
			opts := []string{"ro"}
			for _, o := range m.Options {
				if o != "rw" && o != "ro" {
					opts = append(opts, o)
				}
			}
			out = append(out, snapshots.Mount{Type: m.Type, Source: m.Source, Options: opts})
			continue
		}
		var upper string
		var lowers []string
		var rest []string
		plus := false
		for _, o := range m.Options {
			switch {
			case strings.HasPrefix(o, "upperdir="):
				upper = strings.TrimPrefix(o, "upperdir=")
			case strings.HasPrefix(o, "workdir="), o == "rw", o == "ro":
			case strings.HasPrefix(o, "lowerdir="):
				lowers = append(lowers, strings.Split(strings.TrimPrefix(o, "lowerdir="), ":")...)
			case strings.HasPrefix(o, "lowerdir+="):
				plus = true
				lowers = append(lowers, strings.TrimPrefix(o, "lowerdir+="))
			default:
				rest = append(rest, o)
			}
		}
		if upper != "" {
			lowers = append([]string{upper}, lowers...)
		}
		if len(lowers) == 0 {
			return nil, errors.New("overlay mount without layers")
		}
		opts := append([]string{"ro"}, rest...)
		if len(lowers) == 1 {
			// overlay needs two lowers without an upper: bind the only one.
			out = append(out, snapshots.Mount{Type: "bind", Source: lowers[0], Options: []string{"ro", "rbind"}})
			continue
		}
		if joined := strings.Join(lowers, ":"); !plus && len(joined) < 3800 {
			opts = append(opts, "lowerdir="+joined)
		} else {
			for _, l := range lowers {
				opts = append(opts, "lowerdir+="+l)
			}
		}
		out = append(out, snapshots.Mount{Type: "overlay", Source: "overlay", Options: opts})
	}
	return out, nil
}

// chunkWriter sends what is written in messages of up to exportChunk bytes.
type chunkWriter struct {
	send func([]byte) error
	buf  []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(cap(c.buf)-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:0]
	return err
}

// writeTree writes root's tree as a tar (paths relative, no leading "./"),
// keeping owners, modes, times, symlinks, hardlinks and device nodes. With
// a prefix, root itself is the first entry, named prefix, and the names
// below it start with "prefix/" (root may then be a file or a symlink).
func writeTree(ctx context.Context, root, prefix string, w io.Writer) error {
	openDir := root
	if prefix != "" {
		openDir = filepath.Dir(root)
	}
	rootFd, err := unix.Open(openDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rootFd)
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." && prefix == "" {
			return err
		}
		if prefix != "" {
			rel = filepath.Join(prefix, rel)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := links[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					links[key] = rel
				}
			}
			if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
				hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		// A running container may swap a directory for a symlink between the
		// walk and the open: resolve below the root, following no symlink.
		fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV | unix.RESOLVE_BENEATH,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), path)
		defer f.Close()
		// The size in the header is what the walk saw: a file that changed
		// since is cut or padded to it, keeping the tar well-formed.
		n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
		if err == nil && n < hdr.Size {
			_, err = io.CopyN(tw, zeroReader{}, hdr.Size-n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
