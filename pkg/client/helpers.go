package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Image is an image record of the supervisor.
type Image = supervisorv1.Image

// importChunk is the size of the data messages Import sends.
const importChunk = 1 << 20

// GetImage returns the image named ref (a name or an image ID).
func (c *Client) GetImage(ctx context.Context, ref string) (*Image, error) {
	resp, err := c.ImageService().Get(ctx, &supervisorv1.GetImageRequest{Name: ref})
	if err != nil {
		return nil, err
	}
	return resp.GetImage(), nil
}

// ReadBlob reads a whole blob from the content store.
func (c *Client) ReadBlob(ctx context.Context, digest string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.ContentService().Read(ctx, &supervisorv1.ReadContentRequest{Digest: digest})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", digest, err)
		}
		buf.Write(m.GetData())
	}
}

// ImageConfig reads and decodes the OCI image config of img.
func (c *Client) ImageConfig(ctx context.Context, img *Image) (*ocispec.Image, error) {
	var cfg ocispec.Image
	if err := c.decodeImageConfig(ctx, img, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// DockerImageConfig reads the image config of img with Docker's extensions
// to the OCI type (Healthcheck, Shell, OnBuild).
func (c *Client) DockerImageConfig(ctx context.Context, img *Image) (*dockerspec.DockerOCIImage, error) {
	var cfg dockerspec.DockerOCIImage
	if err := c.decodeImageConfig(ctx, img, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Client) decodeImageConfig(ctx context.Context, img *Image, v any) error {
	if img.GetConfig().GetDigest() == "" {
		return fmt.Errorf("image %s has no config: %w", img.GetName(), errdefs.ErrFailedPrecondition)
	}
	// Decoded afresh every time: callers may change what they get.
	key := configKey(c.ctx(ctx), img.GetConfig().GetDigest())
	data, ok := c.configs.get(key)
	if !ok {
		var err error
		if data, err = c.ReadBlob(ctx, img.GetConfig().GetDigest()); err != nil {
			return err
		}
		c.configs.put(key, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode image config %s: %w", img.GetConfig().GetDigest(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// Import streams an image archive (docker-archive or OCI layout tar) to the
// supervisor in 1 MiB chunks. name is given to an image the archive does not
// name. With platforms, only those are imported, and an archive that does
// not hold each of them for each image is refused (see Images.Import).
func (c *Client) Import(ctx context.Context, r io.Reader, name string, platforms ...ocispec.Platform) ([]*Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.ImageService().Import(ctx)
	if err != nil {
		return nil, err
	}
	first := &supervisorv1.ImportRequest{Name: name}
	for _, p := range platforms {
		first.Platforms = append(first.Platforms, &supervisorv1.Platform{Os: p.OS, Architecture: p.Architecture, Variant: p.Variant, OsVersion: p.OSVersion, OsFeatures: p.OSFeatures})
	}
	if err := st.Send(first); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf := make([]byte, importChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := st.Send(&supervisorv1.ImportRequest{Data: buf[:n]}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the server ended the stream; CloseAndRecv has its error
				}
				return nil, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("import: read archive: %w", rerr)
		}
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetImages(), nil
}

// NewContainer creates the container record and prepares its rootfs
// snapshot (key id, on top of the image's chain ID), in one call: the
// supervisor makes both or neither, and removes at its start a snapshot a
// crash left without its record. A failed call may still have made both
// (the answer lost): the owner deletes id, as after any failed create.
func (c *Client) NewContainer(ctx context.Context, id string, img *Image, spec []byte, runtime string, labels map[string]string) (*supervisorv1.Container, error) {
	resp, err := c.ContainerService().Create(ctx, &supervisorv1.CreateContainerRequest{
		Container: &supervisorv1.Container{
			Id:          id,
			Image:       img.GetName(),
			Runtime:     &supervisorv1.Runtime{Name: runtime},
			Spec:        spec,
			SnapshotKey: id,
			Labels:      labels,
		},
		PrepareSnapshot: true,
		SnapshotParent:  img.GetChainId(),
	})
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	if !resp.GetSnapshotPrepared() {
		// A supervisord from before prepare_snapshot made the record
		// only: the snapshot as it was then asked for, after it.
		if _, err := c.SnapshotService().Prepare(ctx, &supervisorv1.PrepareSnapshotRequest{Key: id, Parent: img.GetChainId()}); err != nil {
			// Undone on a context of our own: ctx may be what failed.
			if _, rerr := c.ContainerService().Delete(context.WithoutCancel(ctx), &supervisorv1.DeleteContainerRequest{Id: id}); rerr != nil {
				err = fmt.Errorf("%w (and deleting container %s: %v)", err, id, rerr)
			}
			return nil, fmt.Errorf("prepare rootfs of %s: %w", id, err)
		}
	}
	return resp.GetContainer(), nil
}
