package images

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Remote implements Backend with a pkg/client connection.
type Remote struct{ C *client.Client }

var _ Backend = (*Remote)(nil)

func (r *Remote) Pull(ctx context.Context, ref string, auth *supervisorv1.RegistryAuth, platform *supervisorv1.Platform, fn ProgressFunc) (*client.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := r.C.DistributionService().Pull(ctx, &supervisorv1.PullRequest{Ref: ref, Auth: auth, Platform: platform})
	if err != nil {
		return nil, err
	}
	var img *client.Image
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if p := m.GetProgress(); p != nil && fn != nil {
			fn(p)
		}
		if m.GetImage() != nil {
			img = m.GetImage()
		}
	}
	if img == nil {
		return nil, fmt.Errorf("pull %s: the supervisor ended the stream without an image", ref)
	}
	return img, nil
}

func (r *Remote) Push(ctx context.Context, name, ref string, auth *supervisorv1.RegistryAuth, fn ProgressFunc) (string, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := r.C.DistributionService().Push(ctx, &supervisorv1.PushRequest{Name: name, Ref: ref, Auth: auth})
	if err != nil {
		return "", 0, err
	}
	var digest string
	var size int64
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", 0, err
		}
		if p := m.GetProgress(); p != nil && fn != nil {
			fn(p)
		}
		if m.GetDigest() != "" {
			digest, size = m.GetDigest(), m.GetSize()
		}
	}
	if digest == "" {
		return "", 0, fmt.Errorf("push %s: the supervisor ended the stream without a digest", name)
	}
	return digest, size, nil
}

func (r *Remote) Tag(ctx context.Context, name string, target *client.Image) error {
	_, err := r.C.ImageService().Create(ctx, &supervisorv1.CreateImageRequest{
		Image:     &supervisorv1.Image{Name: name, Target: target.GetTarget()},
		Overwrite: true,
	})
	return err
}

// recvData copies a stream of data messages to w.
func recvData[T interface{ GetData() []byte }](recv func() (T, error), w io.Writer) error {
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

func (r *Remote) Export(ctx context.Context, names []string, format string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := r.C.ImageService().Export(ctx, &supervisorv1.ExportRequest{Names: names, Format: format})
	if err != nil {
		return err
	}
	return recvData(st.Recv, w)
}

func (r *Remote) ReadBlob(ctx context.Context, digest string) ([]byte, error) {
	return r.C.ReadBlob(ctx, digest)
}

func (r *Remote) GarbageCollect(ctx context.Context) (int64, error) {
	resp, err := r.C.LeasesService().GarbageCollect(ctx, &supervisorv1.GarbageCollectRequest{})
	if err != nil {
		return 0, err
	}
	return resp.GetReclaimedBytes(), nil
}

func (r *Remote) Usage(ctx context.Context, key string) (int64, error) {
	resp, err := r.C.SnapshotService().Usage(ctx, &supervisorv1.UsageRequest{Key: key})
	if err != nil {
		return 0, err
	}
	return resp.GetSize(), nil
}

func (r *Remote) ExportSnapshot(ctx context.Context, key string, w io.Writer) error {
	return r.C.ExportSnapshot(ctx, w, key, "")
}
