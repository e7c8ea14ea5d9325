// Package netns makes network namespaces that outlive any process: each is
// held by a bind mount of its nsfs file on a plain file (as ip-netns does),
// so that the engine can set it up before the container starts and the
// runtime joins it by path.
package netns

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Create makes a new network namespace held at path (whose directory must
// exist), with sysctls (net.* names) written in it. An existing namespace
// at path is kept, and gets the sysctls too (one left by a crash, or made
// by an earlier engine, has not had them).
func Create(path string, sysctls map[string]string) (err error) {
	if Held(path) {
		if len(sysctls) == 0 {
			return nil
		}
		return writeSysctlsIn(path, sysctls)
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
		if err := writeSysctls(sysctls); err != nil {
			errc <- err
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

// New makes a network namespace held only by the returned file, with
// sysctls written in it: it goes when the file is closed (or its process
// dies) unless Hold bound it to a path meanwhile. A namespace made ahead
// of its use this way leaves nothing behind a crash.
func New(sysctls map[string]string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	c := make(chan result, 1)
	// As in Create: a thread of its own, never given back.
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- result{err: fmt.Errorf("netns: unshare: %w", err)}
			return
		}
		if err := writeSysctls(sysctls); err != nil {
			c <- result{err: fmt.Errorf("netns: %w", err)}
			return
		}
		f, err := os.Open("/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net")
		c <- result{f, err}
	}()
	r := <-c
	return r.f, r.err
}

// Hold binds the namespace of f (from New) to path, as Create does; the
// caller may close f then.
func Hold(f *os.File, path string) error {
	if Held(path) {
		return fmt.Errorf("netns %s: already holds a namespace", path)
	}
	t, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	t.Close()
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("netns %s: bind %s: %w", path, src, err)
	}
	return nil
}

// writeSysctlsIn writes sysctls in the namespace held at path, from a
// thread that joins it and is then let go with its goroutine.
func writeSysctlsIn(path string, sysctls map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with it
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- writeSysctls(sysctls)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

// writeSysctls writes sysctls from the calling thread, locked in the new
// namespace: /proc/sys/net is the namespace of the thread that opens it.
func writeSysctls(sysctls map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(sysctls)) {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(sysctls[k]), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, sysctls[k], err)
		}
	}
	return nil
}
