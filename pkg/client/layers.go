package client

import (
	"context"
	"time"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// SnapshotChanges lists what the active snapshot key added, changed and
// deleted against its parent (`docker diff`), sorted by path, leaving out
// the paths in exclude (an engine's mount points).
func (c *Client) SnapshotChanges(ctx context.Context, key string, exclude ...string) ([]*supervisorv1.SnapshotChange, error) {
	resp, err := c.SnapshotService().Changes(ctx, &supervisorv1.SnapshotChangesRequest{Key: key, Exclude: exclude})
	if err != nil {
		return nil, err
	}
	return resp.GetChanges(), nil
}

// DiffSnapshot writes the changes of the active snapshot key as a layer
// blob recorded in lease ("" for none). With commit, key becomes the
// committed snapshot named by the returned chain ID (what a build step
// does; a container's snapshot is diffed without commit). Paths in exclude
// are left out of the layer.
func (c *Client) DiffSnapshot(ctx context.Context, key, lease string, commit bool, exclude ...string) (*supervisorv1.DiffSnapshotResponse, error) {
	return c.SnapshotService().Diff(ctx, &supervisorv1.DiffSnapshotRequest{Key: key, Lease: lease, Commit: commit, Exclude: exclude})
}

// ComposeImage makes and records an image from a base, new layers and a
// config (see Images.Compose).
func (c *Client) ComposeImage(ctx context.Context, req *supervisorv1.ComposeImageRequest) (*Image, error) {
	resp, err := c.ImageService().Compose(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.GetImage(), nil
}

// WithLease runs fn with a new lease that expires after ttl (so a crash
// cannot keep what it protects forever) and deletes it when fn returns:
// what fn writes is kept from garbage collection until an image or
// container references it.
func (c *Client) WithLease(ctx context.Context, ttl time.Duration, purpose string, fn func(lease string) error) error {
	resp, err := c.LeasesService().Create(ctx, &supervisorv1.CreateLeaseRequest{TtlSeconds: int64(ttl / time.Second), Labels: map[string]string{"berth.purpose": purpose}})
	if err != nil {
		return err
	}
	defer c.LeasesService().Delete(context.WithoutCancel(ctx), &supervisorv1.DeleteLeaseRequest{Id: resp.GetLease().GetId()})
	return fn(resp.GetLease().GetId())
}
