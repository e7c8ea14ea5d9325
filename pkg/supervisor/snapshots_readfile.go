package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// MaxReadFile is the largest max_bytes ReadFile accepts: what fits in one
// gRPC message of the default 4 MiB limit, with room to spare.
const MaxReadFile = 4<<20 - 64<<10

// ReadFile returns one regular file of a snapshot. The snapshot is mounted
// read-only in a private directory of the supervisor's tmp for the time of
// the read, and the path is resolved by the kernel inside that root.
func (ss *snapshotsService) ReadFile(ctx context.Context, req *pb.ReadSnapshotFileRequest) (*pb.ReadSnapshotFileResponse, error) {
	if req.Path == "" {
		return nil, fmt.Errorf("read file of snapshot %s: empty path: %w", req.Key, errdefs.ErrInvalidArgument)
	}
	if req.MaxBytes <= 0 || req.MaxBytes > MaxReadFile {
		return nil, fmt.Errorf("read file of snapshot %s: max_bytes %d not in 1..%d: %w", req.Key, req.MaxBytes, MaxReadFile, errdefs.ErrInvalidArgument)
	}
	mounts, done, err := ss.readMounts(ctx, req.Key)
	if err != nil {
		return nil, fmt.Errorf("read %s of snapshot %s: %w", req.Path, req.Key, err)
	}
	defer done()
	root, unmount, err := mountAt(mounts, filepath.Join(ss.s.cfg.Root, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("read %s of snapshot %s: %w", req.Path, req.Key, err)
	}
	defer func() {
		if err := unmount(); err != nil {
			ss.s.log.Warn("unmount after reading a snapshot's file", "key", req.Key, "err", err)
		}
	}()
	data, err := readFileInRoot(root, req.Path, req.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("read %s of snapshot %s: %w", req.Path, req.Key, err)
	}
	return &pb.ReadSnapshotFileResponse{Data: data}, nil
}

// readMounts returns read-only mounts showing the snapshot key, and what to
// call when they are no longer needed. A committed snapshot (an image's
// chain ID) has no mounts of its own: it is shown as a view would show it,
// without recording one (a view costs two metadata writes, 15 ms on ext4,
// for each file read), and garbage collection is held off until done, so
// that its layers stay.
func (ss *snapshotsService) readMounts(ctx context.Context, key string) ([]snapshots.Mount, func(), error) {
	info, err := ss.s.snaps.Stat(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if info.Kind != snapshots.KindCommitted {
		ms, err := ss.s.snaps.Mounts(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		ro, err := readOnlyMounts(ms)
		return ro, func() {}, err
	}
	ss.s.gcMu.RLock()
	ms, err := ss.s.snaps.ViewMounts(ctx, key)
	if err == nil {
		ms, err = readOnlyMounts(ms)
	}
	if err != nil {
		ss.s.gcMu.RUnlock()
		return nil, nil, err
	}
	return ms, ss.s.gcMu.RUnlock, nil
}

// mountAt mounts mounts on a new directory below tmp and returns an
// O_PATH fd of its root and what undoes it all. The mount stays attached
// while it is read: in a detached mount every reference dropped bumps the
// kernel's mount sequence, and RESOLVE_IN_ROOT then fails each ".." with
// EAGAIN. A crash before the undo leaves a mount in tmp, which cleanTmp
// removes at start.
func mountAt(mounts []snapshots.Mount, tmp string) (int, func() error, error) {
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return -1, nil, err
	}
	dir, err := os.MkdirTemp(tmp, "readfile-")
	if err != nil {
		return -1, nil, err
	}
	if err := snapshots.MountAll(mounts, dir); err != nil {
		os.Remove(dir)
		return -1, nil, err
	}
	undo := func() error {
		if err := snapshots.Unmount(dir); err != nil {
			return err
		}
		return os.Remove(dir)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		undo()
		return -1, nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return fd, func() error {
		unix.Close(fd)
		return undo()
	}, nil
}

// readFileInRoot reads the regular file at path below the directory fd
// root, resolving path as if root were "/": "..", absolute symlinks and
// symlinked parents cannot leave it. At most max bytes are read; a larger
// file is an error, so a hostile file costs no more memory than that.
func readFileInRoot(root int, path string, max int64) ([]byte, error) {
	var fd int
	var err error
	for range 16 { // EAGAIN: a rename raced the lookup
		fd, err = unix.Openat2(root, path, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("%s: %w", path, errdefs.ErrNotFound)
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s: too many levels of symbolic links: %w", path, errdefs.ErrFailedPrecondition)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// Never opened for reading: a device node or fifo of the
		// snapshot would reach the host's device or block.
		return nil, fmt.Errorf("%s: not a regular file: %w", path, errdefs.ErrFailedPrecondition)
	}
	if st.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed: %w", path, st.Size, max, errdefs.ErrFailedPrecondition)
	}
	// Reopen the very inode found above for reading; a second lookup by
	// name could meet another file.
	rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(rfd), path)
	defer f.Close()
	// The file may grow after the stat: read one byte more than allowed
	// to notice.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed: %w", path, max, errdefs.ErrFailedPrecondition)
	}
	return data, nil
}
