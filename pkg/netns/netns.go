// Package netns makes network namespaces that outlive any process: each is
// held by a bind mount of its nsfs file on a plain file (as ip-netns does),
// so that the engine can set it up before the container starts and the
// runtime joins it by path.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Create makes a new network namespace held at path (whose directory must
// exist). An existing namespace at path is kept.
func Create(path string) (err error) {
	if Held(path) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	if f != nil {
		f.Close()
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	// unshare moves the calling thread into the new namespace: do it on a
	// thread of its own that is never given back to the Go scheduler (a
	// goroutine that ends locked takes its thread with it).
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind %s: %w", src, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

// Held reports whether path holds a network namespace.
func Held(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// Remove releases the namespace at path (it goes once no process is in it)
// and removes the file; a missing one is not an error.
func Remove(path string) error {
	for Held(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("netns %s: unmount: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

// List returns the names of the files in dir (held or not).
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, filepath.Base(e.Name()))
		}
	}
	return out, nil
}

// Move makes the namespace held at from held at to instead (a namespace
// made ahead of its use, given to a container). to must not hold one.
func Move(from, to string) (err error) {
	if Held(to) {
		return fmt.Errorf("netns %s: already holds a namespace", to)
	}
	f, err := os.OpenFile(to, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns %s: %w", to, err)
	}
	f.Close()
	if err := unix.Mount(from, to, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(to)
		return fmt.Errorf("netns %s: bind %s: %w", to, from, err)
	}
	return Remove(from)
}
