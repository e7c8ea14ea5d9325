package client

import (
	"context"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ReadSnapshotFile returns the regular file at path inside the snapshot key
// (an image's committed chain ID or a container's key), resolved inside the
// snapshot's root. A file larger than maxBytes is refused (errdefs
// FailedPrecondition), a missing one is errdefs NotFound.
func (c *Client) ReadSnapshotFile(ctx context.Context, key, path string, maxBytes int64) ([]byte, error) {
	resp, err := c.SnapshotService().ReadFile(ctx, &supervisorv1.ReadSnapshotFileRequest{Key: key, Path: path, MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	return resp.GetData(), nil
}
