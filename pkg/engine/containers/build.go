package containers

import (
	"context"
	"fmt"
	"io"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Builds is the part of the supervisor API the builder needs besides
// Layers: writing files into a step's snapshot (COPY, ADD) and composing
// an image of metadata only.
type Builds interface {
	ApplySnapshot(ctx context.Context, key string, r io.Reader) (int64, error)
	ComposeImage(ctx context.Context, req *supervisorv1.ComposeImageRequest) (*client.Image, error)
}

var _ Builds = (*Remote)(nil)

func (r *Remote) ApplySnapshot(ctx context.Context, key string, rd io.Reader) (int64, error) {
	return r.C.ApplySnapshot(ctx, key, rd)
}

func (r *Remote) ComposeImage(ctx context.Context, req *supervisorv1.ComposeImageRequest) (*client.Image, error) {
	return r.C.ComposeImage(ctx, req)
}

func (d *Daemon) builds() (Builds, error) {
	b, ok := d.sup.(Builds)
	if !ok {
		return nil, fmt.Errorf("the supervisor cannot apply archives to snapshots: %w", errdefs.ErrNotImplemented)
	}
	return b, nil
}

// ApplyArchive extracts the tar r into the filesystem of a container that
// is not running (the builder's COPY and ADD step containers).
func (d *Daemon) ApplyArchive(ctx context.Context, ref string, r io.Reader) error {
	b, err := d.builds()
	if err != nil {
		return err
	}
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	d.dropAhead(ctx, c)
	if _, err := b.ApplySnapshot(ctx, c.ID, r); err != nil {
		return fmt.Errorf("copy into %s: %w", strings.TrimPrefix(c.Name, "/"), err)
	}
	return nil
}

// ExportArchive writes a tar of path in the container's filesystem, its
// names starting with the path's last component (COPY --from).
func (d *Daemon) ExportArchive(ctx context.Context, ref, path string, w io.Writer) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	d.dropAhead(ctx, c)
	return d.sup.ExportPath(ctx, c.ID, path, w)
}

// CommitStep makes an image of the container's changes on top of base
// with the config img (rootfs and history are made by the supervisor) and
// the history entries of the metadata steps since base (pending) and of
// this step: a build step. It is Commit without the container's config
// merged in. exclude are further paths left out of the layer (the
// step's own mount points).
func (d *Daemon) CommitStep(ctx context.Context, ref, base string, img dockerspec.DockerOCIImage, pending []*supervisorv1.HistoryEntry, entry *supervisorv1.HistoryEntry, exclude ...string) (string, error) {
	l, err := d.layers()
	if err != nil {
		return "", err
	}
	c, err := d.Get(ref)
	if err != nil {
		return "", err
	}
	d.dropAhead(ctx, c)
	cfgJSON, err := configWithoutRootFS(img)
	if err != nil {
		return "", err
	}
	for _, e := range pending {
		e.EmptyLayer = true
	}
	req := &supervisorv1.ComposeImageRequest{Base: base, Config: cfgJSON, History: pending}
	res, err := l.CommitSnapshot(ctx, c.ID, append(append([]string{}, engineMountPoints...), exclude...), req, entry)
	if err != nil {
		return "", fmt.Errorf("commit build step: %w", err)
	}
	return res.GetConfig().GetDigest(), nil
}

// ComposeImage makes an image of base ("" for scratch) with the config
// img and history entries of metadata only, recorded under name ("": its
// ID).
func (d *Daemon) ComposeImage(ctx context.Context, base string, img dockerspec.DockerOCIImage, entries []*supervisorv1.HistoryEntry, name string) (string, error) {
	for _, e := range entries {
		e.EmptyLayer = true
	}
	return d.compose(ctx, &supervisorv1.ComposeImageRequest{Base: base, History: entries, Name: name}, img)
}

// ComposeLayers makes an unnamed image of base with the config img, the
// history entries as given (their empty_layer kept) and layers already
// in the content store: a build step taken from a --cache-from image, or
// a COPY --link layer put on another parent.
func (d *Daemon) ComposeLayers(ctx context.Context, base string, img dockerspec.DockerOCIImage, entries []*supervisorv1.HistoryEntry, layers []*supervisorv1.ComposeLayer) (string, error) {
	return d.compose(ctx, &supervisorv1.ComposeImageRequest{Base: base, History: entries, Layers: layers}, img)
}

// compose sends req with img as its config and returns the image's ID.
func (d *Daemon) compose(ctx context.Context, req *supervisorv1.ComposeImageRequest, img dockerspec.DockerOCIImage) (string, error) {
	b, err := d.builds()
	if err != nil {
		return "", err
	}
	if req.Config, err = configWithoutRootFS(img); err != nil {
		return "", err
	}
	res, err := b.ComposeImage(ctx, req)
	if err != nil {
		return "", fmt.Errorf("compose image: %w", err)
	}
	return res.GetConfig().GetDigest(), nil
}

// ResolveImageUser resolves a user spec ("name", "uid:gid"...) in the
// /etc/passwd and /etc/group of the image ref (COPY --chown).
func (d *Daemon) ResolveImageUser(ctx context.Context, ref, spec string) (specs.User, error) {
	key := ""
	if ref != "" {
		img, err := d.sup.GetImage(ctx, ref)
		if err != nil {
			return specs.User{}, err
		}
		key = img.GetChainId()
	}
	acc, err := d.accounts(ctx, key)
	if err != nil {
		return specs.User{}, err
	}
	return oci.ResolveUser(spec, nil, acc)
}
