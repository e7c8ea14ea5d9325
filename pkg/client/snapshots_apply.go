package client

import (
	"context"
	"errors"
	"io"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// applyChunk is the size of the data messages ApplySnapshot sends.
const applyChunk = 1 << 20

// ApplySnapshot extracts the tar r into the active snapshot key (see
// Snapshots.Apply) and returns the size of the uncompressed stream.
func (c *Client) ApplySnapshot(ctx context.Context, key string, r io.Reader) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.SnapshotService().Apply(ctx)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, applyChunk)
	first := true
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			m := &supervisorv1.ApplySnapshotRequest{Data: buf[:n]}
			if first {
				m.Key = key
				first = false
			}
			if err := st.Send(m); err != nil {
				// The server's answer says why it stopped reading.
				_, rerr2 := st.CloseAndRecv()
				if rerr2 != nil {
					return 0, rerr2
				}
				return 0, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		return 0, err
	}
	return res.GetSize(), nil
}
