package client

import (
	"context"
	"errors"
	"io"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ExportSnapshot writes a tar of a snapshot's merged tree to w; with a
// path, only that file or directory, its names starting with the path's
// last component (as `docker cp` reads a container's files).
func (c *Client) ExportSnapshot(ctx context.Context, w io.Writer, key, path string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.SnapshotService().Export(ctx, &supervisorv1.ExportSnapshotRequest{Key: key, Path: path})
	if err != nil {
		return err
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(m.Data); err != nil {
			return err
		}
	}
}
