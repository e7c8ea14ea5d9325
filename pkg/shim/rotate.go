package shim

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/logfile"
)

// Rotation limits a log file. The shim knows no more of a logging driver
// than this: rotate at MaxSize bytes, keep MaxFiles files, gzip rotated ones.
type Rotation struct {
	// MaxSize is the size a write may not push the file beyond (a record
	// larger than it gets a file of its own); 0 means no rotation.
	MaxSize int64
	// MaxFiles counts the live file too; <= 1 replaces the file by an
	// empty one at each rotation.
	MaxFiles int
	// Compress gzips rotated files in the background; needs MaxFiles >= 2.
	Compress bool
}

// RotatingFile is a log file rotated as package logfile describes: to
// path.1, path.2 ... (path.N.gz when compressed) when a write would make it
// larger than MaxSize. A record is never split across files.
type RotatingFile struct {
	path string
	f    *os.File
	size int64
	rot  Rotation
	// compressing is held while a rotated file is being compressed: the
	// next rotation waits for it, so that it shifts a finished .gz.
	compressing sync.WaitGroup
}

// OpenRotatingFile opens (creating it 0640, and its directory) path for
// appending.
func OpenRotatingFile(path string, rot Rotation) (*RotatingFile, error) {
	if rot.Compress && (rot.MaxSize <= 0 || rot.MaxFiles < 2) {
		return nil, fmt.Errorf("log %s: compression needs a max size and at least 2 files: %w", path, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log file: %w", err)
	}
	return &RotatingFile{path: path, f: f, size: st.Size(), rot: rot}, nil
}

// Write appends one record.
func (r *RotatingFile) Write(p []byte) error {
	if r.rot.MaxSize > 0 && r.size > 0 && r.size+int64(len(p)) > r.rot.MaxSize {
		if err := r.rotate(); err != nil {
			// Keep logging to the file we have: a log larger than asked
			// beats a lost record.
			log.Printf("rotate log %s: %v", r.path, err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log %s: %w", r.path, err)
	}
	return nil
}

func (r *RotatingFile) rotate() error {
	r.compressing.Wait()
	unlock, err := logfile.Lock(r.path, true)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.shift(); err != nil {
		return err
	}
	// A new file rather than a truncated one: readers that hold the old
	// one finish reading it undisturbed.
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	r.f.Close()
	r.f, r.size = f, 0
	if r.rot.Compress {
		r.compressing.Add(1)
		go func() {
			defer r.compressing.Done()
			if err := compress(logfile.Rotated(r.path, 1, false)); err != nil {
				log.Printf("compress log: %v", err)
			}
		}()
	}
	return nil
}

// shift moves the live file to path.1 and the rotated ones one up,
// dropping the oldest; with MaxFiles <= 1 it removes the live file.
func (r *RotatingFile) shift() error {
	if r.rot.MaxFiles <= 1 {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove log: %w", err)
		}
		return nil
	}
	gz := r.rot.Compress
	if err := os.Remove(logfile.Rotated(r.path, r.rot.MaxFiles-1, gz)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove oldest log: %w", err)
	}
	for i := r.rot.MaxFiles - 1; i > 1; i-- {
		if err := os.Rename(logfile.Rotated(r.path, i-1, gz), logfile.Rotated(r.path, i, gz)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(r.path, logfile.Rotated(r.path, 1, false)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return nil
}

// compress replaces src by src.gz, as package logfile prescribes: the
// .gz appears complete, and src stays readable until then.
func compress(src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	defer in.Close()
	dst := src + logfile.GzipSuffix
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	unlock, err := logfile.Lock(src, true)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("compress %s: remove: %w", src, err)
	}
	return nil
}

// Close waits for a compression under way and closes the file.
func (r *RotatingFile) Close() error {
	r.compressing.Wait()
	return r.f.Close()
}
