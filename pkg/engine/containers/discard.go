package containers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// discardedDir, under the engine's root, holds the directories of removed
// containers until they are deleted.
const discardedDir = ".removed"

// discardDelay is how long a removed container's directory waits before
// its files are deleted.
const discardDelay = 200 * time.Millisecond

// discard takes a removed container's directory out of the engine's root
// at once (one rename: the record is gone, whatever happens next) and
// deletes its files later, in the background. Deleting them in place
// (the record, its hosts files, its log: an unlink each) was 0.5-1 ms of
// the path to the answer of a `wait --condition removed`, which `run
// --rm` waits for; right after the answer, they took the CPU the client
// needed then. A crash or a stop in between leaves the directory under
// discardedDir, which the next start deletes (New).
func (d *Daemon) discard(dir string) error {
	trash := filepath.Join(d.root, discardedDir)
	err := os.Rename(dir, filepath.Join(trash, filepath.Base(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		// The holding directory is made on first use.
		if err = os.Mkdir(trash, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			err = os.Rename(dir, filepath.Join(trash, filepath.Base(dir)))
		}
	}
	if err != nil {
		// Where it cannot be moved, deleted in place, as before.
		return os.RemoveAll(dir)
	}
	gone := filepath.Join(trash, filepath.Base(dir))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTimer(discardDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.ctx.Done():
			return // left to the next start
		}
		if err := os.RemoveAll(gone); err != nil {
			d.log.Warn("remove the directory of a removed container", "dir", gone, "err", err)
			return
		}
		// The last one out takes the holding directory along (a discard
		// meanwhile makes it again, or deletes in place).
		_ = os.Remove(trash)
	}()
	return nil
}
