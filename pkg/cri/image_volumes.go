package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// An image volume (mounts[i].image, Kubernetes' image volumes) is a
// read-only view snapshot of the image, mounted on the host at
// <state>/containers/<id>/<i>/root, and the part the container sees
// (image_sub_path, resolved inside the image) bound at .../<i>/vol, which
// the container's spec binds read-only. All of it goes with the container
// (removeImageVolumes), also when its creation was cut short by a crash:
// the view is made after the container's record.

func (s *Server) ctrDir(id string) string { return filepath.Join(s.cfg.State, "containers", id) }

func imageVolumeKey(id string, i int) string { return "cri-image-volume-" + id + "-" + strconv.Itoa(i) }

// imageVolumeSource is what the container's spec binds for mounts[i].
func (s *Server) imageVolumeSource(id string, i int) string {
	return filepath.Join(s.ctrDir(id), strconv.Itoa(i), "vol")
}

func isImageVolume(m *runtimeapi.Mount) bool { return m.GetImage().GetImage() != "" }

// validateImageVolume refuses what an image volume cannot be.
func validateImageVolume(f string, m *runtimeapi.Mount) error {
	switch sub := m.GetImageSubPath(); {
	case !m.GetReadonly():
		return invalidf(f+".readonly", "an image volume is read-only")
	case m.GetHostPath() != "":
		return invalidf(f+".host_path", "an image volume has no host path")
	case m.GetRecursiveReadOnly():
		return invalidf(f+".recursive_read_only", "an image volume has no mounts below it")
	case sub != "" && (path.IsAbs(sub) || slices.Contains(strings.Split(sub, "/"), "..")):
		return invalidf(f+".image_sub_path", "%q: want a relative path without ..", sub)
	}
	return nil
}

// resolveImageVolumes finds each image volume's image and records its ID
// as the mount's image_ref (ContainerStatus reports it); the chain IDs
// are returned by mount index.
func (s *Server) resolveImageVolumes(ctx context.Context, cfg *runtimeapi.ContainerConfig) (map[int]string, error) {
	chains := map[int]string{}
	for i, m := range cfg.GetMounts() {
		if !isImageVolume(m) {
			continue
		}
		recs, err := s.findImage(ctx, m.GetImage().GetImage())
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].image: %w", i, err)
		}
		m.Image.ImageRef = recs[0].GetConfig().GetDigest()
		chains[i] = recs[0].GetChainId()
	}
	return chains, nil
}

// mountImageVolumes makes the views and their host mounts.
func (s *Server) mountImageVolumes(ctx context.Context, id string, cfg *runtimeapi.ContainerConfig, chains map[int]string) error {
	for i, m := range cfg.GetMounts() {
		chain, ok := chains[i]
		if !ok {
			continue
		}
		f := fmt.Sprintf("mounts[%d]", i)
		v, err := s.sup.SnapshotService().View(ctx, &supervisorv1.ViewSnapshotRequest{Key: imageVolumeKey(id, i), Parent: chain})
		if err != nil {
			return fmt.Errorf("%s.image: view of the image: %w", f, err)
		}
		dir := filepath.Join(s.ctrDir(id), strconv.Itoa(i))
		root, vol := filepath.Join(dir, "root"), filepath.Join(dir, "vol")
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("%s.image: %w", f, err)
		}
		ms := make([]snapshots.Mount, 0, len(v.GetMounts()))
		for _, pm := range v.GetMounts() {
			ms = append(ms, snapshots.Mount{Type: pm.GetType(), Source: pm.GetSource(), Options: pm.GetOptions()})
		}
		if err := snapshots.MountAll(ms, root); err != nil {
			return fmt.Errorf("%s.image: mount the image: %w", f, err)
		}
		if err := bindInRoot(root, m.GetImageSubPath(), vol); err != nil {
			return fmt.Errorf("%s.image_sub_path: %w", f, err)
		}
	}
	return nil
}

// bindInRoot binds sub, resolved inside root (its symlinks cannot lead
// out of the image), on target, made a directory or a file to match.
func bindInRoot(root, sub, target string) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	if sub == "" {
		sub = "."
	}
	fd, err := unix.Openat2(rfd, sub, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%q is not in the image: %w", sub, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("%q: %w", sub, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		err = os.WriteFile(target, nil, 0o600)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %q: %w", sub, err)
	}
	return nil
}

// removeImageVolumes undoes mountImageVolumes, whatever part of it was
// done: the mounts, the directory, the views.
func (s *Server) removeImageVolumes(ctx context.Context, id string, cfg *runtimeapi.ContainerConfig) error {
	if err := s.unmountContainerDir(id); err != nil {
		return err
	}
	for i, m := range cfg.GetMounts() {
		if !isImageVolume(m) {
			continue
		}
		_, err := s.sup.SnapshotService().Remove(ctx, &supervisorv1.RemoveSnapshotRequest{Key: imageVolumeKey(id, i)})
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove image volume %d of %s: %w", i, id, err)
		}
	}
	return nil
}

// unmountContainerDir unmounts what is mounted below the container's
// directory and removes it.
func (s *Server) unmountContainerDir(id string) error {
	dir := s.ctrDir(id)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range ents {
		for _, p := range []string{"vol", "root"} {
			if err := unmountAll(filepath.Join(dir, e.Name(), p)); err != nil {
				return fmt.Errorf("container %s: %w", id, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

// unmountAll unmounts p until nothing is mounted there.
func unmountAll(p string) error {
	for {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
}
