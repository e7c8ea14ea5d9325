// Package atomicfile replaces files so that a reader, or a process starting
// after a crash at any point, sees either the old content or the new one,
// never a mix or an empty file. Every daemon of berth keeps its state this way.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile durably replaces path with data: a temporary file in the same
// directory is written, synced, given perm and renamed over path, and the
// directory is synced so the rename itself survives a power loss.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// Replace is WriteFile without the syncs, for state on tmpfs (/run), which
// does not outlive a reboot: a crash of the writer still leaves the old or
// the new content.
func Replace(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

func write(path string, data []byte, perm os.FileMode, durable bool) error {
	st, err := stage(path, data, perm, durable)
	if err != nil {
		return err
	}
	return st.commit(durable)
}

// WriteFileSyncLater replaces path with data as Replace does, and returns
// the syncs WriteFile would have made before returning: once it returns, a
// crash of the writer leaves the new content (or, on failure, the old);
// once sync returns, so does a power loss. For state a caller must have
// written before it answers but which only needs to survive a reboot
// shortly after: the syncs (1-3 ms here) then run after the answer.
// sync may run after path was replaced or removed again (it then syncs
// what is left; a directory gone is not an error).
func WriteFileSyncLater(path string, data []byte, perm os.FileMode) (sync func() error, err error) {
	st, err := stage(path, data, perm, false)
	if err != nil {
		return nil, err
	}
	if err := st.commit(false); err != nil {
		return nil, err
	}
	return func() error {
		// The file as it is then: this content, or a newer one.
		for _, p := range []string{path, filepath.Dir(path)} {
			f, err := os.Open(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err == nil {
				err = f.Sync()
				f.Close()
			}
			if err != nil {
				return fmt.Errorf("sync %s: %w", path, err)
			}
		}
		return nil
	}, nil
}

// Staged is a new content of a file, written and synced beside it but not
// yet in place: the slow part of a WriteFile (the file's sync) done ahead,
// while the caller waits for what must be durable before it.
type Staged struct{ tmp, path string }

// Stage writes data, with perm, to a synced temporary file beside path.
// Commit puts it in place as WriteFile would; Abort drops it.
func Stage(path string, data []byte, perm os.FileMode) (*Staged, error) {
	return stage(path, data, perm, true)
}

// Commit renames the staged file over its path and syncs the directory.
func (s *Staged) Commit() error { return s.commit(true) }

// Abort removes the staged file.
func (s *Staged) Abort() { os.Remove(s.tmp) }

func stage(path string, data []byte, perm os.FileMode, durable bool) (st *Staged, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Staged{tmp: tmp, path: path}, nil
}

func (s *Staged) commit(durable bool) error {
	if err := os.Rename(s.tmp, s.path); err != nil {
		s.Abort()
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if !durable {
		return nil
	}
	d, err := os.Open(filepath.Dir(s.path))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}
