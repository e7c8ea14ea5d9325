package containers

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
)

// WithVolumes gives the daemon its volume store.
func WithVolumes(s *volume.Store) Option { return func(d *Daemon) { d.vols = s } }

// Volumes is the daemon's volume store (nil when it has none).
func (d *Daemon) Volumes() *volume.Store { return d.vols }

// planMounts makes the container's mounts: the volumes it names (created
// when missing), anonymous ones, bind sources -v creates. It returns the
// mount points and the OCI mounts; undo removes what it made.
func (d *Daemon) planMounts(cfg *container.Config, hc *container.HostConfig, imageVolumes map[string]struct{}) (mps []*volume.MountPoint, ms []specs.Mount, undo func(), err error) {
	var made []string
	undo = func() {
		for _, n := range made {
			d.removeVolume(n)
		}
	}
	if hc.VolumeDriver != "" && hc.VolumeDriver != volume.LocalDriver {
		// 400 rather than dockerd's 404: the docker CLI takes a 404 at
		// create for a missing image and would go pulling it.
		return nil, nil, undo, &msgError{msg: fmt.Sprintf("error looking up volume plugin %s: plugin %q not found", hc.VolumeDriver, hc.VolumeDriver), class: errdefs.ErrInvalidArgument}
	}
	mps, err = volume.Plan(cfg, hc, imageVolumes, d.mountsOf)
	if err != nil {
		return nil, nil, undo, err
	}
	if len(mps) > 0 && d.vols == nil {
		return nil, nil, undo, &msgError{msg: "volumes: engine has no volume store", class: errdefs.ErrNotImplemented}
	}
	rro, err := d.recursiveReadOnly(hc.Runtime, mps)
	if err != nil {
		return nil, nil, undo, err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	for _, mp := range mps {
		switch mp.Type {
		case mount.TypeBind:
			if _, serr := os.Stat(mp.Source); serr != nil {
				if !mp.CreateSource || !errors.Is(serr, os.ErrNotExist) {
					return nil, nil, undo, &msgError{msg: fmt.Sprintf("invalid mount config for type \"bind\": bind source path does not exist: %s", mp.Source), class: errdefs.ErrInvalidArgument}
				}
				// -v makes a missing source directory, as dockerd does.
				if err := os.MkdirAll(mp.Source, 0o755); err != nil {
					return nil, nil, undo, fmt.Errorf("create bind source %s: %w", mp.Source, err)
				}
				if err := d.chownToRemappedRoot(hc, mp.Source); err != nil {
					return nil, nil, undo, err
				}
			}
		case mount.TypeVolume:
			_, existed := d.volumeExists(mp.Name)
			v, err := d.vols.Create(volume.CreateOptions{Name: mp.Name, Options: mp.VolumeOptions, Labels: mp.VolumeLabels, Anonymous: mp.Anonymous})
			if err != nil {
				return nil, nil, undo, err
			}
			if !existed {
				made = append(made, v.Name)
				// dockerd's volume store records every volume it makes,
				// those a container names or leaves anonymous included.
				d.emitVolume(v.Name, events.ActionCreate, map[string]string{"driver": v.Driver})
			}
			mp.Name, mp.Driver = v.Name, v.Driver
			mp.Source = v.Mountpoint
			if mp.Subpath != "" {
				mp.Source = filepath.Join(v.Mountpoint, mp.Subpath)
				if _, err := os.Lstat(mp.Source); err != nil {
					return nil, nil, undo, &msgError{msg: fmt.Sprintf("cannot access path %s: volume subpath does not exist", mp.Subpath), class: errdefs.ErrInvalidArgument}
				}
			}
		}
		ms = append(ms, ociMount(mp, rro))
	}
	return mps, ms, undo, nil
}

func (d *Daemon) volumeExists(name string) (*volume.Volume, bool) {
	if name == "" {
		return nil, false
	}
	v, err := d.vols.Get(name)
	return v, err == nil
}

// mountsOf is the mount points of another container, for --volumes-from.
func (d *Daemon) mountsOf(ref string) ([]*volume.MountPoint, error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.MountPoints, nil
}

// ociMount is the OCI mount of a mount point; rro: a read-only one is
// read-only with its submounts (recursiveReadOnly).
func ociMount(mp *volume.MountPoint, rro bool) specs.Mount {
	if mp.Type == mount.TypeTmpfs {
		opts := append([]string{}, mp.TmpfsData...)
		return specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	opts := []string{"rbind"}
	if mp.NonRecursive {
		opts = []string{"bind"}
	}
	if !mp.RW {
		opts = append(opts, "ro")
		// Read-only with every submount too, as dockerd asks the runtime
		// (API >= 1.44), unless bind-recursive=writable.
		if rro && !mp.ReadOnlyNonRecursive && !mp.NonRecursive {
			opts = append(opts, "rro")
		}
	}
	prop := string(mp.Propagation)
	if prop == "" {
		prop = "rprivate"
	}
	opts = append(opts, prop)
	return specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts}
}

// volumesUp readies a container's volumes before its start: devices of
// volumes with mount options are mounted, and an empty volume gets the
// image's content at its destination (unless nocopy), as dockerd does.
func (d *Daemon) volumesUp(ctx context.Context, c *Container) (err error) {
	c.mu.Lock()
	mps := c.MountPoints
	c.mu.Unlock()
	var up []string
	defer func() {
		if err != nil {
			for _, n := range up {
				d.vols.Unmount(n)
			}
		}
	}()
	for _, mp := range mps {
		if mp.Type != mount.TypeVolume {
			continue
		}
		dir, err := d.vols.Mount(mp.Name)
		if err != nil {
			return err
		}
		up = append(up, mp.Name)
		if !mp.CopyData || mp.Subpath != "" {
			continue
		}
		if err := d.copyUpOnce(ctx, c, mp, dir); err != nil {
			return fmt.Errorf("copy image content to volume %s: %w", mp.Name, err)
		}
	}
	// Recorded once all are up: a start that fails here has unmounted
	// them with no event, and mounted none as far as the events tell.
	for _, mp := range mps {
		if mp.Type == mount.TypeVolume {
			d.emitVolumeMount(c.ID, mp)
		}
	}
	return nil
}

// copyUpOnce copies the image's content into an empty volume. The start
// of the copy is recorded first: a copy a crash cut short leaves the mark,
// and the next start empties the volume of its partial content and copies
// again, so a volume never keeps half of the image's files.
func (d *Daemon) copyUpOnce(ctx context.Context, c *Container, mp *volume.MountPoint, dir string) error {
	v, err := d.vols.Get(mp.Name)
	if err != nil {
		return err
	}
	if v.CopyingUp {
		if err := emptyDir(dir); err != nil {
			return fmt.Errorf("remove an interrupted copy: %w", err)
		}
	} else if empty, _ := dirEmpty(dir); !empty {
		return nil
	}
	if err := d.vols.SetCopyingUp(mp.Name, true); err != nil {
		return err
	}
	if err := d.copyUp(ctx, c.ID, mp.Destination, dir, d.shiftOwners(c.HostConfig)); err != nil {
		return err
	}
	// The copied files reach the disk before the mark goes.
	syncFS(dir)
	failpoint.Hit("volume-copied-up")
	return d.vols.SetCopyingUp(mp.Name, false)
}

// emptyDir removes what dir holds, not dir itself (it may be a mount).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// syncFS flushes the filesystem holding dir (syncfs(2)).
func syncFS(dir string) {
	if f, err := os.Open(dir); err == nil {
		unix.Syncfs(int(f.Fd()))
		f.Close()
	}
}

// volumesDown undoes volumesUp at an exit.
func (d *Daemon) volumesDown(c *Container) {
	c.mu.Lock()
	mps := c.MountPoints
	c.mu.Unlock()
	for _, mp := range mps {
		if mp.Type == mount.TypeVolume {
			d.vols.Unmount(mp.Name)
			d.emitVolumeUnmount(c.ID, mp)
		}
	}
}

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// copyUp copies the container's tree at dst (its image content, read
// through the supervisor) into the volume directory: owners, modes,
// xattrs, links, with the safe layer unpacker; the volume's root takes
// the owner and mode of dst.
func (d *Daemon) copyUp(ctx context.Context, id, dst, dir string, shift func(*tar.Header) error) error {
	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := d.sup.ExportPath(ctx, id, dst, pw)
		pw.CloseWithError(err)
		exported <- err
	}()
	rr, rw := io.Pipe()
	var rootHdr *tar.Header
	go func() {
		rw.CloseWithError(stripTop(pr, rw, func(h *tar.Header) { rootHdr = h }, shift))
	}()
	_, err := archive.Apply(ctx, dir, rr, archive.Options{})
	rr.CloseWithError(io.ErrClosedPipe)
	pr.CloseWithError(io.ErrClosedPipe)
	exportErr := <-exported
	if errdefs.IsNotFound(exportErr) {
		return nil // nothing at dst in the image: the volume stays empty
	}
	if exportErr != nil && !errors.Is(exportErr, io.ErrClosedPipe) {
		return exportErr
	}
	if err != nil {
		return err
	}
	if rootHdr != nil && rootHdr.Typeflag == tar.TypeDir {
		os.Lchown(dir, rootHdr.Uid, rootHdr.Gid)
		os.Chmod(dir, os.FileMode(rootHdr.Mode).Perm()|modeBits(rootHdr.Mode))
	}
	return nil
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	return out
}

// stripTop rewrites an archive whose names start with one top component
// ("data", "data/x") into one relative to it, handing the top entry to
// root; each (nil: none) rewrites every entry first.
func stripTop(r io.Reader, w io.Writer, root func(*tar.Header), each func(*tar.Header) error) error {
	tr := archive.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if each != nil {
			if err := each(h); err != nil {
				return err
			}
		}
		name := strings.TrimSuffix(h.Name, "/")
		_, rest, found := strings.Cut(name, "/")
		if !found {
			root(h)
			continue
		}
		h.Name = rest
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			_, lrest, _ := strings.Cut(h.Linkname, "/")
			h.Linkname = lrest
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// removeAnonymousVolumes removes the anonymous volumes of a removed
// container that no other container uses (rm -v, run --rm).
func (d *Daemon) removeAnonymousVolumes(c *Container) {
	for _, mp := range c.MountPoints {
		if mp.Type != mount.TypeVolume || !mp.Anonymous {
			continue
		}
		if users := d.VolumeUsers(mp.Name); len(users) > 0 {
			continue
		}
		if err := d.removeVolume(mp.Name); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("remove anonymous volume", "volume", mp.Name, "err", err)
		}
	}
}

// VolumeUsers lists the IDs of the containers (in any state) that mount a
// volume.
func (d *Daemon) VolumeUsers(name string) []string {
	d.mu.Lock()
	cs := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	var out []string
	for _, c := range cs {
		c.mu.Lock()
		for _, mp := range c.MountPoints {
			if mp.Type == mount.TypeVolume && mp.Name == name {
				out = append(out, c.ID)
				break
			}
		}
		c.mu.Unlock()
	}
	sort.Strings(out)
	return out
}

// RemoveVolume removes a volume no container uses; force ignores a
// missing one, as dockerd.
func (d *Daemon) RemoveVolume(name string, force bool) error {
	if users := d.VolumeUsers(name); len(users) > 0 {
		return &msgError{msg: fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", ")), class: errdefs.ErrConflict}
	}
	err := d.vols.Remove(name)
	if errdefs.IsNotFound(err) {
		if force {
			return nil
		}
		return &msgError{msg: fmt.Sprintf("get %s: no such volume", name), class: errdefs.ErrNotFound}
	}
	return err
}

// restoreVolumes counts the volumes of the containers still running after
// an engine restart as in use (their devices stay mounted).
func (d *Daemon) restoreVolumes() {
	if d.vols == nil {
		return
	}
	for _, c := range d.containers {
		c.mu.Lock()
		running := c.State.Running
		mps := c.MountPoints
		c.mu.Unlock()
		if !running {
			continue
		}
		for _, mp := range mps {
			if mp.Type == mount.TypeVolume {
				d.vols.Mount(mp.Name)
			}
		}
	}
	d.vols.UnmountUnused()
}

// EmitVolume records a volume event of the API's doing (create, destroy)
// as dockerd shapes it.
func (d *Daemon) EmitVolume(name, action string) {
	d.emitVolume(name, events.Action(action), map[string]string{"driver": volume.LocalDriver})
}

// removeVolume removes a volume the engine made for a container, with
// the destroy event dockerd's volume store records for any removal.
func (d *Daemon) removeVolume(name string) error {
	if err := d.vols.Remove(name); err != nil {
		return err
	}
	d.emitVolume(name, events.ActionDestroy, map[string]string{"driver": volume.LocalDriver})
	return nil
}
