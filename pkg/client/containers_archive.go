package client

import (
	"context"
	"errors"
	"io"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// StatContainerPath is the lstat of a path of a container's filesystem as
// the container sees it (volumes and binds included).
func (c *Client) StatContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, error) {
	return c.ContainerService().StatPath(ctx, &supervisorv1.ContainerPathRequest{Id: id, Path: path})
}

// ArchiveContainerPath returns the stat of a path of a container and a
// reader of its tar (names from the path's last component), which the
// caller must close.
func (c *Client) ArchiveContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := c.ContainerService().ArchivePath(ctx, &supervisorv1.ContainerPathRequest{Id: id, Path: path})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	first, err := st.Recv()
	if err != nil {
		cancel()
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(copyData(st.Recv, pw))
	}()
	return first.GetStat(), &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel func()
}

func (r *cancelReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// ExtractToContainerDir extracts the tar r into the directory at req.Path
// of container req.Id with req's options (its Data is ignored).
func (c *Client) ExtractToContainerDir(ctx context.Context, req *supervisorv1.ExtractToDirRequest, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.ContainerService().ExtractToDir(ctx)
	if err != nil {
		return err
	}
	first := &supervisorv1.ExtractToDirRequest{
		Id: req.Id, Path: req.Path, NoOverwriteDirNonDir: req.NoOverwriteDirNonDir,
		Chown: req.Chown, Uid: req.Uid, Gid: req.Gid,
	}
	if err := st.Send(first); err != nil {
		_, err = st.CloseAndRecv()
		return err
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := st.Send(&supervisorv1.ExtractToDirRequest{Data: buf[:n]}); err != nil {
				// The server ended the call: its answer says why.
				_, err = st.CloseAndRecv()
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	_, err = st.CloseAndRecv()
	return err
}
