package cgroups

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNoKillFile is returned by Kill where the kernel has no cgroup.kill
// (cgroup v1, or v2 before Linux 5.14): the caller signals each process.
var ErrNoKillFile = errors.New("no cgroup.kill")

// Kill SIGKILLs every process of the container's v2 cgroup, its
// descendants included, in one write: unlike listing then signalling, no
// process forked in between escapes.
func (m *Manager) Kill() error {
	if m.V2 == "" {
		return ErrNoKillFile
	}
	if _, err := os.Stat(filepath.Join(m.V2, "cgroup.kill")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoKillFile
		}
		return err
	}
	return writeFile(m.V2, "cgroup.kill", "1")
}
