// Package logfile is the on-disk contract of a rotated container log, shared
// by its one writer (the shim) and its readers (engined's `docker logs`):
//
//   - the live file is PATH; rotated files are PATH.1 (the newest) to PATH.N,
//     each either plain or gzip-compressed (PATH.N.gz);
//   - a record (one line) is never split across files;
//   - whoever renames, creates or removes these names holds an exclusive
//     flock on their directory meanwhile; a reader that opens several of
//     them holds a shared one, so that it sees one consistent set (without
//     it a rotation between two opens would skip or repeat a file);
//   - compression writes PATH.N.gz.tmp without the lock, then (locked)
//     renames it to PATH.N.gz and removes PATH.N.
//
// Readers that keep a file open across rotations (follow) notice a
// rotation by PATH naming another inode than the one they hold.
package logfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// GzipSuffix marks a compressed rotated file.
const GzipSuffix = ".gz"

// Rotated names the n-th rotated file of path (n >= 1).
func Rotated(path string, n int, compressed bool) string {
	name := path + "." + strconv.Itoa(n)
	if compressed {
		name += GzipSuffix
	}
	return name
}

// Lock takes the directory lock of the log at path, exclusive for a
// writer that renames, shared for a reader that opens files. The returned
// function releases it.
func Lock(path string, exclusive bool) (unlock func(), err error) {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock log directory %s: %w", dir, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock log directory %s: %w", dir, err)
	}
	// Closing the descriptor releases the lock.
	return func() { unix.Close(fd) }, nil
}

// File is one file of a log, as List finds it.
type File struct {
	Path       string
	Index      int // 0: the live file; n: PATH.n
	Compressed bool
}

// List returns the files of the log at path, oldest first (the live file
// last, when it exists). A rotated file present both plain and compressed
// (a compression not yet finished when the lock is not held) is listed
// plain: the compressed copy may be incomplete. The caller holds the lock
// when it needs the list to stay true.
func List(path string) ([]File, error) {
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list log files: %w", err)
	}
	byIndex := map[int]File{}
	for _, e := range ents {
		name := e.Name()
		if name == base {
			byIndex[0] = File{Path: path}
			continue
		}
		rest, ok := strings.CutPrefix(name, base+".")
		if !ok {
			continue
		}
		num, gz := strings.CutSuffix(rest, GzipSuffix)
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || strconv.Itoa(n) != num {
			continue
		}
		if prev, ok := byIndex[n]; ok && !prev.Compressed {
			continue
		}
		byIndex[n] = File{Path: filepath.Join(dir, name), Index: n, Compressed: gz}
	}
	files := make([]File, 0, len(byIndex))
	for _, f := range byIndex {
		files = append(files, f)
	}
	// Oldest first: the highest index first, the live file (0) last.
	sort.Slice(files, func(i, j int) bool {
		a, b := files[i].Index, files[j].Index
		if a == 0 || b == 0 {
			return b == 0 && a != 0
		}
		return a > b
	})
	return files, nil
}
