package client

import (
	"context"
	"io"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ExportImages writes an archive of the named images to w: format is
// "docker-archive" (default; `docker load` and `podman load` read it) or
// "oci-archive". Digests are preserved.
func (c *Client) ExportImages(ctx context.Context, w io.Writer, names []string, format string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.ImageService().Export(ctx, &supervisorv1.ExportRequest{Names: names, Format: format})
	if err != nil {
		return err
	}
	return copyData(st.Recv, w)
}

// TagImage records target (a new name) for the image source, as `docker tag`.
func (c *Client) TagImage(ctx context.Context, source, target string) (*Image, error) {
	img, err := c.GetImage(ctx, source)
	if err != nil {
		return nil, err
	}
	resp, err := c.ImageService().Create(ctx, &supervisorv1.CreateImageRequest{
		Image: &supervisorv1.Image{Name: target, Target: img.Target}, Overwrite: true,
	})
	if err != nil {
		return nil, err
	}
	return resp.Image, nil
}
