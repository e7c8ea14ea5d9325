package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// DistributionService pulls and pushes images.
func (c *Client) DistributionService() supervisorv1.DistributionClient {
	return supervisorv1.NewDistributionClient(c.wrapped())
}

// LeasesService manages leases and garbage collection.
func (c *Client) LeasesService() supervisorv1.LeasesClient {
	return supervisorv1.NewLeasesClient(c.wrapped())
}

// Pull pulls ref (busybox, host:5000/a/b:tag, name@sha256:...) and returns
// the recorded image. auth may be nil (supervisord then uses its docker
// config, else anonymous access); progress, when not nil, gets every step.
func (c *Client) Pull(ctx context.Context, ref string, auth *supervisorv1.RegistryAuth, progress func(*supervisorv1.Progress)) (*Image, error) {
	st, err := c.DistributionService().Pull(ctx, &supervisorv1.PullRequest{Ref: ref, Auth: auth})
	if err != nil {
		return nil, err
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("pull %s: stream ended without the image: %w", ref, errdefs.ErrUnavailable)
		}
		if err != nil {
			return nil, err
		}
		if m.Progress != nil && progress != nil {
			progress(m.Progress)
		}
		if m.Image != nil {
			return m.Image, nil
		}
	}
}

// Push pushes the local image name as ref ("" = its name) and returns the
// pushed manifest's digest and size.
func (c *Client) Push(ctx context.Context, name, ref string, auth *supervisorv1.RegistryAuth, progress func(*supervisorv1.Progress)) (string, int64, error) {
	st, err := c.DistributionService().Push(ctx, &supervisorv1.PushRequest{Name: name, Ref: ref, Auth: auth})
	if err != nil {
		return "", 0, err
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return "", 0, fmt.Errorf("push %s: stream ended without a digest: %w", name, errdefs.ErrUnavailable)
		}
		if err != nil {
			return "", 0, err
		}
		if m.Progress != nil && progress != nil {
			progress(m.Progress)
		}
		if m.Digest != "" {
			return m.Digest, m.Size, nil
		}
	}
}

// GarbageCollect removes blobs and snapshots nothing references.
func (c *Client) GarbageCollect(ctx context.Context) (*supervisorv1.GarbageCollectResponse, error) {
	return c.LeasesService().GarbageCollect(ctx, &supervisorv1.GarbageCollectRequest{})
}
