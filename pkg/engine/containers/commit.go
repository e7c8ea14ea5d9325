package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/imageconfig"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Layers is the part of the supervisor API that diff, commit and import
// use; a supervisor without it gets NotImplemented.
type Layers interface {
	SnapshotChanges(ctx context.Context, key string, exclude ...string) ([]*supervisorv1.SnapshotChange, error)
	// CommitSnapshot writes the changes of the snapshot key (minus
	// exclude) as a layer and composes req's image with it, history
	// entry included (marked empty_layer when nothing changed), all under
	// one lease.
	CommitSnapshot(ctx context.Context, key string, exclude []string, req *supervisorv1.ComposeImageRequest, entry *supervisorv1.HistoryEntry) (*client.Image, error)
}

var _ Layers = (*Remote)(nil)

func (r *Remote) SnapshotChanges(ctx context.Context, key string, exclude ...string) ([]*supervisorv1.SnapshotChange, error) {
	return r.C.SnapshotChanges(ctx, key, exclude...)
}

func (r *Remote) CommitSnapshot(ctx context.Context, key string, exclude []string, req *supervisorv1.ComposeImageRequest, entry *supervisorv1.HistoryEntry) (*client.Image, error) {
	var img *client.Image
	err := r.C.WithLease(ctx, time.Hour, "commit", func(lease string) error {
		diff, err := r.C.DiffSnapshot(ctx, key, lease, false, exclude...)
		if err != nil {
			return err
		}
		if diff.GetEmpty() {
			entry.EmptyLayer = true
		} else {
			req.Layers = append(req.Layers, &supervisorv1.ComposeLayer{Blob: diff.GetLayer(), DiffId: diff.GetDiffId()})
		}
		req.History = append(req.History, entry)
		img, err = r.C.ComposeImage(ctx, req)
		return err
	})
	return img, err
}

// engineMountPoints are the paths the engine and the runtime mount over in
// every container (dockerd keeps them in a container's init layer): the
// empty files and directories made for them are no change of the
// container's.
var engineMountPoints = []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab", "/dev", "/proc", "/sys", "/.dockerenv", "/sbin/docker-init"}

func (d *Daemon) layers() (Layers, error) {
	l, ok := d.sup.(Layers)
	if !ok {
		return nil, fmt.Errorf("the supervisor cannot diff snapshots: %w", errdefs.ErrNotImplemented)
	}
	return l, nil
}

// Changes lists what the container changed in its filesystem against its
// image (`docker diff`), with Docker's kinds (0 changed, 1 added, 2
// deleted).
func (d *Daemon) Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	l, err := d.layers()
	if err != nil {
		return nil, err
	}
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	d.dropAhead(ctx, c)
	chs, err := l.SnapshotChanges(ctx, c.ID, engineMountPoints...)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", strings.TrimPrefix(c.Name, "/"), err)
	}
	out := []container.FilesystemChange{}
	for _, ch := range chs {
		out = append(out, container.FilesystemChange{Path: ch.GetPath(), Kind: container.ChangeType(ch.GetKind())})
	}
	return out, nil
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Repo, Tag       string
	Author, Comment string
	// Pause freezes a running container while its layer is written.
	Pause bool
	// Changes are Dockerfile instructions applied to the config.
	Changes []string
	// Config, when set, overrides the container's config (as dockerd's
	// body of POST /commit).
	Config *container.Config
}

// CommitName turns repo and tag into the normalized name to record ("" for
// none).
func CommitName(repo, tag string) (string, error) {
	if repo == "" {
		if tag != "" {
			return "", &msgError{msg: "refusing to create a tag with no repository", class: errdefs.ErrInvalidArgument}
		}
		return "", nil
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", &msgError{msg: fmt.Sprintf("invalid reference format: %s", repo), class: errdefs.ErrInvalidArgument}
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", &msgError{msg: "cannot commit to digest reference", class: errdefs.ErrInvalidArgument}
	}
	if tag != "" {
		if _, ok := named.(reference.Tagged); ok {
			return "", &msgError{msg: fmt.Sprintf("invalid reference format: %s:%s", repo, tag), class: errdefs.ErrInvalidArgument}
		}
		if named, err = reference.WithTag(named, tag); err != nil {
			return "", &msgError{msg: fmt.Sprintf("invalid tag format: %s", tag), class: errdefs.ErrInvalidArgument}
		}
	}
	return reference.TagNameOnly(named).String(), nil
}

// Commit makes an image of the container's filesystem changes (volumes and
// the engine's mount points are not in it) on top of its image, with the
// container's config, o.Config and o.Changes, and returns its ID. Bad input
// is refused before the container is paused or anything is written.
func (d *Daemon) Commit(ctx context.Context, ref string, o CommitOptions) (string, error) {
	l, err := d.layers()
	if err != nil {
		return "", err
	}
	c, err := d.Get(ref)
	if err != nil {
		return "", err
	}
	d.dropAhead(ctx, c)
	snap := c.snapshot()
	name, err := CommitName(o.Repo, o.Tag)
	if err != nil {
		return "", err
	}
	img, err := d.sup.GetImage(ctx, snap.ImageID)
	if err != nil {
		return "", fmt.Errorf("image of %s: %w", strings.TrimPrefix(snap.Name, "/"), err)
	}
	base, err := d.sup.DockerImageConfig(ctx, img)
	if err != nil {
		return "", err
	}
	cfg := base.Config
	mergeCommitConfig(&cfg, snap.Config)
	mergeCommitConfig(&cfg, o.Config)
	if err := imageconfig.ApplyChanges(&cfg, o.Changes); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	out := dockerspec.DockerOCIImage{Config: cfg}
	out.Author = o.Author
	out.Created = &now
	out.Platform = base.Platform
	cfgJSON, err := configWithoutRootFS(out)
	if err != nil {
		return "", err
	}

	if o.Pause && snap.State.Running && !snap.State.Paused {
		if err := d.Pause(ctx, c.ID); err != nil {
			return "", fmt.Errorf("commit: pause: %w", err)
		}
		defer d.Unpause(context.WithoutCancel(ctx), c.ID)
	}
	var createdBy []string
	if snap.Config != nil {
		createdBy = snap.Config.Cmd
	}
	entry := &supervisorv1.HistoryEntry{Created: now.UnixNano(), CreatedBy: strings.Join(createdBy, " "), Author: o.Author, Comment: o.Comment}
	req := &supervisorv1.ComposeImageRequest{Base: snap.ImageID, Config: cfgJSON, Name: name}
	res, err := l.CommitSnapshot(ctx, c.ID, engineMountPoints, req, entry)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", strings.TrimPrefix(snap.Name, "/"), err)
	}
	// As dockerd: the image's create and tag events, then the container's.
	id := res.GetConfig().GetDigest()
	d.EmitImage(ctx, events.ActionCreate, id, id, res)
	if name != "" {
		_, fam, _ := NormalizeImageRef(name)
		d.EmitImage(ctx, events.ActionTag, id, fam, res)
	}
	attrs := map[string]string{"comment": o.Comment, "imageID": id}
	if name != "" {
		attrs["imageRef"] = name
	}
	d.emit(c, events.ActionCommit, attrs)
	return res.GetConfig().GetDigest(), nil
}

// configWithoutRootFS is the config JSON Compose takes: it makes rootfs
// and history itself.
func configWithoutRootFS(img dockerspec.DockerOCIImage) ([]byte, error) {
	b, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "rootfs")
	delete(m, "history")
	return json.Marshal(m)
}

// mergeCommitConfig lays the set fields of c over cfg, as dockerd merges a
// container's config over its image's for a commit: lists and maps are
// merged, single values replaced.
func mergeCommitConfig(cfg *imageconfig.Config, c *container.Config) {
	if c == nil {
		return
	}
	if c.User != "" {
		cfg.User = c.User
	}
	if len(c.ExposedPorts) > 0 {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for p := range c.ExposedPorts {
			cfg.ExposedPorts[p.String()] = struct{}{}
		}
	}
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range cfg.Env {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				cfg.Env[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			cfg.Env = append(cfg.Env, kv)
		}
	}
	if len(c.Cmd) > 0 {
		cfg.Cmd = append([]string(nil), c.Cmd...)
	}
	if len(c.Entrypoint) > 0 {
		cfg.Entrypoint = append([]string(nil), c.Entrypoint...)
		if len(c.Cmd) == 0 {
			cfg.Cmd = nil
		}
	}
	if len(c.Volumes) > 0 {
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if c.WorkingDir != "" {
		cfg.WorkingDir = c.WorkingDir
	}
	if len(c.Labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for k, v := range c.Labels {
			cfg.Labels[k] = v
		}
	}
	if c.StopSignal != "" {
		cfg.StopSignal = c.StopSignal
	}
	if len(c.OnBuild) > 0 {
		cfg.OnBuild = append([]string(nil), c.OnBuild...)
	}
	if len(c.Shell) > 0 {
		cfg.Shell = append([]string(nil), c.Shell...)
	}
	if c.Healthcheck != nil {
		h := dockerspec.HealthcheckConfig{Test: c.Healthcheck.Test, Interval: c.Healthcheck.Interval, Timeout: c.Healthcheck.Timeout,
			StartPeriod: c.Healthcheck.StartPeriod, StartInterval: c.Healthcheck.StartInterval, Retries: c.Healthcheck.Retries}
		cfg.Healthcheck = &h
	}
}
