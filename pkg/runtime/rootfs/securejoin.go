// Package rootfs prepares a container's root filesystem inside its new mount
// namespace: mounts, devices, masked and read-only paths, pivot_root.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const maxSymlinks = 255

// SecureJoin resolves unsafe (a path as seen from inside the container) against
// root and returns a host path that lies inside root. Symlinks met on the way are
// resolved as if root were "/": absolute targets restart at root and ".." never
// climbs above it. Components that do not exist are appended lexically.
func SecureJoin(root, unsafe string) (string, error) {
	return secureJoin(root, unsafe, os.Lstat, os.Readlink)
}

func secureJoin(root, unsafe string, lstat func(string) (os.FileInfo, error), readlink func(string) (string, error)) (string, error) {
	root = filepath.Clean(root)
	var resolved []string // components below root, all existing non-symlinks
	pending := splitPath(unsafe)
	links := 0
	for len(pending) > 0 {
		comp := pending[0]
		pending = pending[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		full := filepath.Join(root, filepath.Join(resolved...), comp)
		fi, err := lstat(full)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// Nothing below exists: finish lexically, clamped at root.
				resolved = append(resolved, comp)
				for _, c := range pending {
					switch c {
					case "", ".":
					case "..":
						if len(resolved) > 0 {
							resolved = resolved[:len(resolved)-1]
						}
					default:
						resolved = append(resolved, c)
					}
				}
				pending = nil
				break
			}
			return "", fmt.Errorf("securejoin %s in %s: %w", unsafe, root, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = append(resolved, comp)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("securejoin %s in %s: too many levels of symbolic links", unsafe, root)
		}
		target, err := readlink(full)
		if err != nil {
			return "", fmt.Errorf("securejoin %s in %s: %w", unsafe, root, err)
		}
		if filepath.IsAbs(target) {
			resolved = resolved[:0]
		}
		pending = append(splitPath(target), pending...)
	}
	return filepath.Join(root, filepath.Join(resolved...)), nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// IsInside reports whether path lies at or below root (lexically).
func IsInside(root, path string) bool {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
