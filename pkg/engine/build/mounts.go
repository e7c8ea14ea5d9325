package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
)

// CacheVolumePrefix names the volumes that hold RUN --mount=type=cache
// directories: one per cache id (the target when no id is given), kept
// across builds, removed by `builder prune`.
const CacheVolumePrefix = "berth-build-cache-"

// CacheVolumeLabel marks those volumes.
const CacheVolumeLabel = "io.berth.build.cache"

// runMounts turns RUN --mount flags into the step container's mounts:
// type=cache a named volume, type=tmpfs a tmpfs, type=bind a read-only
// (or rw: writes are thrown away with the copy) bind of a context path.
// type=secret a file of a secret the client gave (secrets.go).
// A bind from= another stage or an image binds a copy of its source
// path made for the step (bindFrom). It returns a digest of the bind
// sources' content for the cache key. ssh is refused by name. The
// caller closes sec when the step is over.
func (j *job) runMounts(ctx context.Context, st *stageState, c *instructions.RunCommand, sec *secretMounts) ([]mount.Mount, string, error) {
	var out []mount.Mount
	sum := sha256.New()
	for _, m := range instructions.GetMounts(c) {
		target := m.Target
		switch m.Type {
		case instructions.MountTypeCache, instructions.MountTypeTmpfs, instructions.MountTypeBind:
			if !path.IsAbs(target) {
				return nil, "", fmt.Errorf("RUN --mount: target %q must be absolute: %w", target, errdefs.ErrInvalidArgument)
			}
		case instructions.MountTypeSecret:
		default:
			return nil, "", fmt.Errorf("RUN --mount=type=%s is not supported by this builder (cache, tmpfs, bind and secret are): %w", m.Type, errdefs.ErrInvalidArgument)
		}
		switch m.Type {
		case instructions.MountTypeSecret:
			if err := j.secretMount(m, sec); err != nil {
				return nil, "", err
			}
		case instructions.MountTypeCache:
			if m.From != "" || m.Source != "" {
				return nil, "", fmt.Errorf("RUN --mount=type=cache: from and source are not supported by this builder: %w", errdefs.ErrInvalidArgument)
			}
			if m.Mode != nil && *m.Mode != 0o755 || m.UID != nil && *m.UID != 0 || m.GID != nil && *m.GID != 0 {
				return nil, "", fmt.Errorf("RUN --mount=type=cache: mode, uid and gid are not supported by this builder: %w", errdefs.ErrInvalidArgument)
			}
			id := m.CacheID
			if id == "" {
				id = target
			}
			h := sha256.Sum256([]byte(id))
			out = append(out, mount.Mount{Type: mount.TypeVolume, Source: CacheVolumePrefix + hex.EncodeToString(h[:])[:24], Target: target, ReadOnly: m.ReadOnly,
				VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{CacheVolumeLabel: id}}})
		case instructions.MountTypeTmpfs:
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: target, TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.SizeLimit}})
		case instructions.MountTypeBind:
			var src string
			var err error
			if m.From != "" {
				src, err = j.bindFrom(ctx, st, m.From, m.Source, sec)
			} else {
				src, err = j.bc.resolve(m.Source)
			}
			if err != nil {
				return nil, "", fmt.Errorf("RUN --mount=type=bind,source=%s: %w", m.Source, err)
			}
			lw := newLayerWriter(io.Discard)
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeLocal(ctx, pw, src)) }()
			_, err = lw.addSource(pr, copyRule{dest: "/", destIsDir: true})
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return nil, "", fmt.Errorf("RUN --mount=type=bind,source=%s: %w", m.Source, err)
			}
			fmt.Fprintf(sum, "%s %s\n", target, lw.digest())
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		}
	}
	return append(out, sec.mounts...), hex.EncodeToString(sum.Sum(nil)), nil
}

// bindFrom copies the path source of another stage's image or an image
// (from) into a directory of the step (removed with sec) and returns it:
// BuildKit binds the other stage's filesystem itself, which here lives in
// the supervisor's snapshots, out of engined's reach, so the step gets a
// copy; writes (rw) are thrown away with it, as BuildKit's are.
func (j *job) bindFrom(ctx context.Context, st *stageState, from, source string, sec *secretMounts) (string, error) {
	_, cid, err := j.fromReader(ctx, st, from, "bind-from")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(j.b.Tmp, "bind-")
	if err != nil {
		return "", err
	}
	sec.dirs = append(sec.dirs, dir)
	p := path.Clean("/" + source)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(j.b.D.ExportArchive(ctx, cid, p, pw)) }()
	_, err = archive.Apply(ctx, dir, pr, archive.Options{})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("--from=%s: %s: file does not exist: %w", from, source, errdefs.ErrInvalidArgument)
		}
		return "", fmt.Errorf("--from=%s: %w", from, err)
	}
	if p == "/" {
		return dir, nil
	}
	// The export names its entries from the path's last component.
	return filepath.Join(dir, path.Base(p)), nil
}
