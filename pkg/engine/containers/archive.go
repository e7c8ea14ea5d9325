package containers

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ContainerFiles is the part of the supervisor API `docker cp` uses: the
// supervisor reads and writes a container's filesystem as the container
// sees it (docs/decisions.md, "docker cp").
type ContainerFiles interface {
	StatContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, error)
	ArchiveContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, io.ReadCloser, error)
	ExtractToContainerDir(ctx context.Context, req *supervisorv1.ExtractToDirRequest, r io.Reader) error
}

func (r *Remote) StatContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, error) {
	return r.C.StatContainerPath(ctx, id, path)
}

func (r *Remote) ArchiveContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, io.ReadCloser, error) {
	return r.C.ArchiveContainerPath(ctx, id, path)
}

func (r *Remote) ExtractToContainerDir(ctx context.Context, req *supervisorv1.ExtractToDirRequest, rd io.Reader) error {
	return r.C.ExtractToContainerDir(ctx, req, rd)
}

// StatPath is HEAD /containers/{id}/archive.
func (d *Daemon) StatPath(ctx context.Context, ref, path string) (*container.PathStat, error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	d.dropAhead(ctx, c)
	st, err := d.sup.StatContainerPath(ctx, c.ID, path)
	if err != nil {
		return nil, cpError(err, c.ID, ref, path)
	}
	return pathStat(st), nil
}

// ArchivePath is GET /containers/{id}/archive: the stat and a tar of the
// path, which the caller closes.
func (d *Daemon) ArchivePath(ctx context.Context, ref, path string) (*container.PathStat, io.ReadCloser, error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	d.dropAhead(ctx, c)
	st, rc, err := d.sup.ArchiveContainerPath(ctx, c.ID, path)
	if err != nil {
		return nil, nil, cpError(err, c.ID, ref, path)
	}
	d.emit(c, "archive-path", nil)
	return pathStat(st), rc, nil
}

// ExtractOptions are PUT /containers/{id}/archive's query parameters.
type ExtractOptions struct {
	NoOverwriteDirNonDir bool
	// CopyUIDGID owns the files by the container's user (-a), when it
	// has one.
	CopyUIDGID bool
}

// ExtractToDir is PUT /containers/{id}/archive: the tar r extracted into
// the directory at path.
func (d *Daemon) ExtractToDir(ctx context.Context, ref, path string, opts ExtractOptions, r io.Reader) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	d.dropAhead(ctx, c)
	req := &supervisorv1.ExtractToDirRequest{Id: c.ID, Path: path, NoOverwriteDirNonDir: opts.NoOverwriteDirNonDir}
	c.mu.Lock()
	user := ""
	if c.Config != nil {
		user = c.Config.User
	}
	c.mu.Unlock()
	if opts.CopyUIDGID && user != "" {
		// As dockerd: the container's user, looked up in its own files;
		// without a user, the tar's owners stay.
		u, err := d.execUser(ctx, c, user)
		if err != nil {
			return err
		}
		req.Chown, req.Uid, req.Gid = true, u.UID, u.GID
	}
	if err := d.sup.ExtractToContainerDir(ctx, req, r); err != nil {
		return cpError(err, c.ID, ref, path)
	}
	d.emit(c, "extract-to-dir", nil)
	return nil
}

// cpError gives a missing path dockerd's words, and the others the
// supervisor's reason without its own prefix (the container's ID, the
// path) and class suffix, as dockerd words them; the class stays.
func cpError(err error, id, ref, path string) error {
	if errdefs.IsNotFound(err) {
		return &msgError{msg: fmt.Sprintf("Could not find the file %s in container %s", path, ref), class: errdefs.ErrNotFound}
	}
	if !errdefs.IsInvalidArgument(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{fmt.Sprintf("container %s path %s: ", id, path), fmt.Sprintf("container %s extract to %s: ", id, path)} {
		msg = strings.TrimPrefix(msg, p)
	}
	for _, c := range []error{errdefs.ErrInvalidArgument, errdefs.ErrFailedPrecondition} {
		msg = strings.TrimSuffix(msg, ": "+c.Error())
	}
	return &msgError{msg: msg, class: err}
}

func pathStat(st *supervisorv1.ContainerPathStat) *container.PathStat {
	return &container.PathStat{
		Name: st.Name, Size: st.Size, Mode: fileMode(st.Mode),
		Mtime: time.Unix(0, st.MtimeUnixNano), LinkTarget: st.LinkTarget,
	}
}

// fileMode is Go's os.FileMode of a st_mode, which the API carries.
func fileMode(m uint32) os.FileMode {
	out := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		out |= os.ModeDir
	case unix.S_IFLNK:
		out |= os.ModeSymlink
	case unix.S_IFIFO:
		out |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		out |= os.ModeSocket
	case unix.S_IFCHR:
		out |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		out |= os.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		out |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= os.ModeSticky
	}
	return out
}
