package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// cpPath is a path as `docker cp` means it: absolute in the container,
// cleaned, but a trailing "/" or "/." kept, since it says "follow the last
// component" and, for "/.", "the directory's content".
func cpPath(p string) string {
	abs := path.Clean("/" + p)
	switch {
	case abs == "/":
	case strings.HasSuffix(p, "/."):
		abs += "/."
	case strings.HasSuffix(p, "/"):
		abs += "/"
	}
	return abs
}

// cpTarget is an opened cp path: dirfd and name, as *at calls take them
// (name "." when the path itself was opened).
type cpTarget struct {
	dirfd int
	name  string
	abs   string
}

func (t cpTarget) close() { unix.Close(t.dirfd) }

// openCpPath opens p below root: every component but the last is
// followed inside root, and the last too when p ends in "/" or "/.".
func openCpPath(root int, p string) (cpTarget, unix.Stat_t, error) {
	abs := cpPath(p)
	dir, base := path.Split(abs)
	var st unix.Stat_t
	follow := base == "" || base == "."
	if follow {
		dir = abs
	}
	fd, err := archive.OpenInRoot(root, dir, true)
	if err != nil {
		return cpTarget{}, st, err
	}
	t := cpTarget{dirfd: fd, name: base, abs: abs}
	if follow {
		t.name = "."
	}
	if err := unix.Fstatat(t.dirfd, t.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.close()
		if err == unix.ENOENT || err == unix.ENOTDIR {
			err = fmt.Errorf("%s: %w: %w", abs, err, errdefs.ErrNotFound)
		}
		return cpTarget{}, st, err
	}
	if follow && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.close()
		return cpTarget{}, st, fmt.Errorf("%s: %w: %w", abs, unix.ENOTDIR, errdefs.ErrNotFound)
	}
	return t, st, nil
}

func cpStat(root int, t cpTarget, st *unix.Stat_t) (*pb.ContainerPathStat, error) {
	out := &pb.ContainerPathStat{
		Name: path.Base(t.abs), Size: st.Size, Mode: st.Mode,
		MtimeUnixNano: st.Mtim.Nano(),
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		target, err := archive.FollowInRoot(root, t.abs)
		if err != nil {
			return nil, err
		}
		out.LinkTarget = target
	}
	return out, nil
}

// StatPath is `docker cp`'s HEAD archive: the lstat of a path.
func (cs *containersService) StatPath(ctx context.Context, req *pb.ContainerPathRequest) (*pb.ContainerPathStat, error) {
	var out *pb.ContainerPathStat
	err := cs.s.withContainerFS(ctx, req.Id, false, func(root int, _ idMapping) error {
		t, st, err := openCpPath(root, req.Path)
		if err != nil {
			return err
		}
		defer t.close()
		out, err = cpStat(root, t, &st)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("container %s path %s: %w", req.Id, req.Path, err)
	}
	return out, nil
}

// ArchivePath is `docker cp`'s GET archive: the stat, then a tar of the
// path named from its last component as asked ("./" for "dir/.").
func (cs *containersService) ArchivePath(req *pb.ContainerPathRequest, stream grpc.ServerStreamingServer[pb.ArchivePathResponse]) error {
	ctx := stream.Context()
	err := cs.s.withContainerFS(ctx, req.Id, false, func(root int, ids idMapping) error {
		t, st, err := openCpPath(root, req.Path)
		if err != nil {
			return err
		}
		defer t.close()
		pst, err := cpStat(root, t, &st)
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.ArchivePathResponse{Stat: pst}); err != nil {
			return err
		}
		w := &chunkWriter{send: func(b []byte) error { return stream.Send(&pb.ArchivePathResponse{Data: b}) }, buf: make([]byte, 0, exportChunk)}
		var owners func(uid, gid int) (int, int)
		if ids.remapped() {
			owners = ids.toContainer
		}
		if err := archive.WriteTreeOwners(ctx, w, t.dirfd, t.name, pst.Name, owners); err != nil {
			return err
		}
		return w.flush()
	})
	if err != nil {
		return fmt.Errorf("container %s path %s: %w", req.Id, req.Path, err)
	}
	return nil
}

// ExtractToDir is `docker cp`'s PUT archive.
func (cs *containersService) ExtractToDir(stream grpc.ClientStreamingServer[pb.ExtractToDirRequest, pb.ExtractToDirResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := archive.Options{Whiteouts: archive.KeepWhiteouts, NoOverwriteDirNonDir: first.NoOverwriteDirNonDir}
	if first.Chown {
		opts.Chown = &archive.Owner{UID: int(first.Uid), GID: int(first.Gid)}
	}
	c, err := cs.s.getContainer(ctx, first.Id)
	if err != nil {
		return err
	}
	opts.NoDevices = !mayMknod(c.Spec)
	r := &recvReader{buf: first.Data, recv: stream.Recv}
	err = cs.s.withContainerFS(ctx, first.Id, true, func(root int, ids idMapping) error {
		if ids.remapped() {
			opts.MapOwner = ids.toHost
		}
		fd, err := archive.OpenInRoot(root, cpPath(first.Path), true)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := writableDir(root, fd); err != nil {
			return err
		}
		_, err = archive.ApplyAt(ctx, fd, r, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("container %s extract to %s: %w", first.Id, first.Path, err)
	}
	return stream.SendAndClose(&pb.ExtractToDirResponse{})
}

// writableDir says why fd cannot take an archive: not a directory, or on
// a read-only mount (the rootfs's own, or another: a volume or bind).
func writableDir(root, fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("extraction point is not a directory: %w", errdefs.ErrInvalidArgument)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return err
	}
	if fs.Flags&unix.ST_RDONLY == 0 {
		return nil
	}
	if mountID(fd) == mountID(root) {
		return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("mounted volume is marked read-only: %w", errdefs.ErrFailedPrecondition)
}

func mountID(fd int) uint64 {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0
	}
	return stx.Mnt_id
}

// recvReader reads the data of a stream of messages.
type recvReader struct {
	buf  []byte
	recv func() (*pb.ExtractToDirRequest, error)
	err  error
}

func (r *recvReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		m, err := r.recv()
		if err != nil {
			r.err = err
			continue
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// mayMknod says whether the container could make device nodes itself
// (CAP_MKNOD, no user namespace): cp may create only what it could.
func mayMknod(spec []byte) bool {
	var sp specs.Spec
	if json.Unmarshal(spec, &sp) != nil || sp.Process == nil || sp.Process.Capabilities == nil {
		return false
	}
	if sp.Linux != nil {
		for _, ns := range sp.Linux.Namespaces {
			if ns.Type == specs.UserNamespace {
				return false
			}
		}
	}
	return slices.Contains(sp.Process.Capabilities.Bounding, "CAP_MKNOD")
}
