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
	return copyData(st.Recv, w)
}

// copyData writes the data of a stream of messages to w until its end.
func copyData[T interface{ GetData() []byte }](recv func() (T, error), w io.Writer) error {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(m.GetData()); err != nil {
			return err
		}
	}
}
