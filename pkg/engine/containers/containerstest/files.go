package containerstest

import (
	"context"
	"fmt"
	"path"

	"github.com/berthd/berth/pkg/errdefs"
)

// BusyboxPasswd and BusyboxGroup are the fake busybox image's accounts,
// those of the test image (test/image).
const (
	BusyboxPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	BusyboxGroup  = "root:x:0:\nwheel:x:10:root\nusers:x:100:nobody\nnogroup:x:65534:\n"
)

// SetFile puts a file into a snapshot: an image's chain ID
// ("sha256:chain-" + image name) or a container's key (its ID). nil data
// removes it. A container's snapshot shows its image's files under its own.
func (s *Supervisor) SetFile(key, p string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string]map[string][]byte{}
	}
	if s.files[key] == nil {
		s.files[key] = map[string][]byte{}
	}
	p = path.Clean("/" + p)
	if data == nil {
		delete(s.files[key], p)
		return
	}
	s.files[key][p] = data
}

// FileReads counts ReadSnapshotFile calls.
func (s *Supervisor) FileReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fileReads
}

func (s *Supervisor) ReadSnapshotFile(_ context.Context, key, p string, maxBytes int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileReads++
	exists := false
	for _, img := range s.Images {
		exists = exists || img.ChainId == key
	}
	parent, active := s.Snapshots[key]
	if !exists && !active {
		return nil, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	p = path.Clean("/" + p)
	data, ok := s.files[key][p]
	if !ok && active {
		data, ok = s.files[parent][p]
	}
	if !ok {
		return nil, fmt.Errorf("%s of snapshot %s: %w", p, key, errdefs.ErrNotFound)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed: %w", p, len(data), maxBytes, errdefs.ErrFailedPrecondition)
	}
	return append([]byte(nil), data...), nil
}
