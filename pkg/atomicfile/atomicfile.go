// Package atomicfile replaces files so that a reader, or a process starting
// after a crash at any point, sees either the old content or the new one,
// never a mix or an empty file. Every daemon of berth keeps its state this way.
package atomicfile

import (
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

func write(path string, data []byte, perm os.FileMode, durable bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
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
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if durable {
		d, derr := os.Open(dir)
		if derr != nil {
			return derr
		}
		defer d.Close()
		return d.Sync()
	}
	return nil
}
