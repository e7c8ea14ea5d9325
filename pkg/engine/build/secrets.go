package build

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

// MaxSecretSize is the largest secret a build takes, as BuildKit's.
const MaxSecretSize = 500 << 10

// secretMounts is what the secret mounts of one RUN need: bind mounts of
// files holding the secrets, environment variables, and the step's
// directory of those files; and the copies bound by type=bind,from=
// (mounts.go). The directories are removed when the step ends.
type secretMounts struct {
	mounts []mount.Mount
	env    []string
	dir    string
	dirs   []string
}

func (s *secretMounts) close() {
	for _, d := range append(s.dirs, s.dir) {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// secretMount turns RUN --mount=type=secret into a read-only bind of a
// file holding the secret (mode 0400 owned by 0:0 unless mode/uid/gid
// say otherwise) at target, default /run/secrets/ID, and/or an
// environment variable (env=NAME), as BuildKit does. The secrets come
// from the client (ctl build --secret); a missing one is skipped unless
// the mount is required. Secrets are not part of the cache key and never
// reach a layer (the target is left out of the commit).
func (j *job) secretMount(m *instructions.Mount, s *secretMounts) error {
	id := m.CacheID
	if m.Source != "" {
		id = m.Source
	}
	if id == "" {
		id = path.Base(m.Target)
	}
	data, ok := j.o.Secrets[id]
	if !ok {
		if m.Required {
			return fmt.Errorf("RUN --mount=type=secret,id=%s: secret %s not found (required; give it with ctl build --secret id=%s,src=FILE): %w", id, id, id, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if m.Env != nil {
		name := *m.Env
		if name == "" {
			name = id
		}
		s.env = append(s.env, name+"="+string(data))
		if m.Target == "" {
			return nil
		}
	}
	target := m.Target
	if target == "" {
		target = "/run/secrets/" + path.Base(id)
	}
	if !path.IsAbs(target) {
		return fmt.Errorf("RUN --mount=type=secret: target %q must be absolute: %w", target, errdefs.ErrInvalidArgument)
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp(j.b.Tmp, "secrets-")
		if err != nil {
			return err
		}
		s.dir = dir
	}
	f, err := os.CreateTemp(s.dir, "secret-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("secret %s: %w", id, err)
	}
	mode, uid, gid := uint64(0o400), uint64(0), uint64(0)
	if m.Mode != nil {
		mode = *m.Mode
	}
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if err := os.Chown(f.Name(), int(uid), int(gid)); err != nil {
		return fmt.Errorf("secret %s: %w", id, err)
	}
	if err := os.Chmod(f.Name(), os.FileMode(mode&0o777)); err != nil {
		return fmt.Errorf("secret %s: %w", id, err)
	}
	s.mounts = append(s.mounts, mount.Mount{Type: mount.TypeBind, Source: filepath.Clean(f.Name()), Target: target, ReadOnly: true})
	return nil
}
