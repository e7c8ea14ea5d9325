package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// withContainerFS runs fn with a directory fd of the container's root as
// the container sees it, its volumes and binds mounted. A live task's
// own view is used (/proc/PID/root: its mount namespace, tmpfs and all).
// Otherwise the view is built in a private mount namespace on a thread of
// its own, which dies with fn's end: nothing stays mounted, also after a
// crash. write asks for a writable view; without it, the rootfs is a
// read-only overlay that a concurrent start does not disturb. A container
// in a user namespace is seen through its mapping (owners as the host
// has them: ids maps them), and a write runs as its root.
func (s *Server) withContainerFS(ctx context.Context, id string, write bool, fn func(root int, ids idMapping) error) error {
	c, err := s.getContainer(ctx, id)
	if err != nil {
		return err
	}
	var ids idMapping
	if ids.uids, ids.gids, err = rootfsIDMap(c.Spec); err != nil {
		return err
	}
	if write {
		// No task is created while a writable view of the stopped rootfs
		// exists (and none between the look at the task and the view).
		ns, err := namespaceOf(ctx)
		if err != nil {
			return err
		}
		defer viewLocks.lock(ns + "/" + c.ID)()
	}
	run := func(root int) error {
		if !write || !ids.remapped() {
			return fn(root, ids)
		}
		return ids.asRoot(func() error { return fn(root, ids) })
	}
	bundleRootfs := ""
	if t, err := s.tasks.get(ctx, id); err == nil && t.exitRecord() == nil {
		if st, err := t.state(ctx); err == nil {
			switch st.Status {
			case pb.TaskStatus_TASK_STATUS_RUNNING, pb.TaskStatus_TASK_STATUS_PAUSED, pb.TaskStatus_TASK_STATUS_CREATED:
				root, err := openProcRoot(int(st.Pid))
				if err == nil {
					defer unix.Close(root)
					return run(root)
				}
				if !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("container %s root: %w", id, err)
				}
				// It exited meanwhile: its rootfs stays mounted until the
				// task is deleted.
			}
			// A stopped task keeps its rootfs mounted in the bundle: a
			// second overlay mount of the same upper dir is not allowed.
			bundleRootfs = filepath.Join(t.bundle, "rootfs")
		}
	}
	var spec specs.Spec
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return fmt.Errorf("container %s spec: %w", id, err)
	}
	var rootMounts []snapshots.Mount
	if bundleRootfs != "" {
		rootMounts = []snapshots.Mount{{Type: "bind", Source: bundleRootfs, Options: []string{"bind"}}}
	} else {
		if c.SnapshotKey == "" {
			return fmt.Errorf("container %s has no rootfs snapshot: %w", id, errdefs.ErrFailedPrecondition)
		}
		if rootMounts, err = s.snaps.Mounts(ctx, c.SnapshotKey); err != nil {
			return fmt.Errorf("container %s rootfs: %w", id, err)
		}
		if !write {
			if rootMounts, err = readOnlyMounts(rootMounts); err != nil {
				return fmt.Errorf("container %s rootfs: %w", id, err)
			}
		}
		// As the task mounts it (the bundle's rootfs already is).
		rootMounts = snapshots.WithIDMap(rootMounts, ids.uids, ids.gids)
	}
	dir, err := os.MkdirTemp("", "berth-cfs")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	return inMountNamespace(func() error {
		if err := snapshots.MountAll(rootMounts, dir); err != nil {
			return fmt.Errorf("container %s rootfs: %w", id, err)
		}
		// Gone from this namespace before it ends, so that the directory
		// is no mount point anywhere when it is removed.
		defer unix.Unmount(dir, unix.MNT_DETACH)
		root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(root)
		for _, m := range spec.Mounts {
			if err := bindInRoot(root, m, write, ids); err != nil {
				return fmt.Errorf("container %s mount %s: %w", id, m.Destination, err)
			}
		}
		if spec.Root != nil && spec.Root.Readonly {
			if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("container %s read-only rootfs: %w", id, err)
			}
		}
		// The fd opened before the binds is the root's own dentry: lookups
		// from it cross the mounts made on top of its subdirectories.
		// fn may run on another thread (as the container's root): lookups
		// go from the fd, and this thread keeps the namespace alive.
		return run(root)
	})
}

// bindInRoot mounts a bind mount of the spec at its destination below
// root, resolved inside it (a symlinked destination does not lead out).
// Other kinds (tmpfs, proc...) do not exist while nothing runs. A missing
// mount point is made when the view is writable, as the runtime would at
// start; in a read-only view the mount is left out.
func bindInRoot(root int, m specs.Mount, write bool, ids idMapping) error {
	if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(m.Source, &st); err != nil {
		return nil // a source gone since: the container would not start either
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	dst, err := archive.OpenInRoot(root, m.Destination, true)
	if errdefs.IsNotFound(err) && write {
		mk := func() error {
			dst, err = makeMountPoint(root, m.Destination, isDir)
			return err
		}
		if ids.remapped() {
			// Made as the container's root, through its mapped rootfs.
			err = ids.asRoot(mk)
		} else {
			err = mk()
		}
	}
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	target := "/proc/self/fd/" + strconv.Itoa(dst)
	flags := uintptr(unix.MS_BIND)
	if !slices.Contains(m.Options, "bind") {
		flags |= unix.MS_REC
	}
	err = unix.Mount(m.Source, target, "", flags, "")
	unix.Close(dst)
	if err != nil {
		return err
	}
	if !slices.Contains(m.Options, "ro") {
		return nil
	}
	// Reopened: the fd above is the mount point, not the new mount.
	if dst, err = archive.OpenInRoot(root, m.Destination, true); err != nil {
		return err
	}
	defer unix.Close(dst)
	return unix.Mount("", "/proc/self/fd/"+strconv.Itoa(dst), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
}

func makeMountPoint(root int, dst string, isDir bool) (int, error) {
	if isDir {
		return archive.MkdirAllInRoot(root, dst)
	}
	pfd, err := archive.MkdirAllInRoot(root, filepath.Dir(dst))
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, filepath.Base(dst), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	if err == nil {
		unix.Close(fd)
	}
	return archive.OpenInRoot(root, dst, true)
}

// openProcRoot opens the root directory of process pid as that process
// sees it (its mount namespace), making sure pid was not reused meanwhile.
func openProcRoot(pid int) (int, error) {
	if pid <= 0 {
		return -1, unix.ESRCH
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pidfd)
	root, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// Still alive after the open: the root is that process's.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		unix.Close(root)
		return -1, err
	}
	return root, nil
}

// inMountNamespace runs fn on an OS thread of its own in a private copy of
// the mount namespace. The thread is never handed back to the Go runtime:
// it exits with fn, and its namespace and every mount made there go with
// it.
func inMountNamespace(fn func() error) error {
	return onOwnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare mount namespace: %w", err)
		}
		// Nothing made here may propagate back to the host's mounts.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("private mounts: %w", err)
		}
		return fn()
	})
}

// onOwnThread runs fn on a locked OS thread that exits with it, so that
// per-thread credentials set there go with it.
func onOwnThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// keyedLocks are mutexes by key, made on use and dropped when unused.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// viewLocks keep a task's creation and a writable cp view of the same
// container apart.
var viewLocks = keyedLocks{locks: map[string]*keyedLock{}}

// lock takes key's mutex and returns its unlock.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
