package containerstest

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// StatContainerPath describes ExportFiles[path] as a 0644 file of its
// archive's size; any other path is missing.
func (s *Supervisor) StatContainerPath(_ context.Context, id, path string) (*supervisorv1.ContainerPathStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.ExportFiles[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, errdefs.ErrNotFound)
	}
	return &supervisorv1.ContainerPathStat{Name: path, Size: int64(len(data)), Mode: 0o100644}, nil
}

// ArchiveContainerPath returns ExportFiles[path] as the archive.
func (s *Supervisor) ArchiveContainerPath(ctx context.Context, id, path string) (*supervisorv1.ContainerPathStat, io.ReadCloser, error) {
	st, err := s.StatContainerPath(ctx, id, path)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return st, io.NopCloser(bytes.NewReader(s.ExportFiles[path])), nil
}

// ExtractToContainerDir records the archive in Extracted, by path.
func (s *Supervisor) ExtractToContainerDir(_ context.Context, req *supervisorv1.ExtractToDirRequest, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Extracted == nil {
		s.Extracted = map[string]*supervisorv1.ExtractToDirRequest{}
	}
	s.Extracted[req.Path] = &supervisorv1.ExtractToDirRequest{Id: req.Id, Path: req.Path, NoOverwriteDirNonDir: req.NoOverwriteDirNonDir, Chown: req.Chown, Uid: req.Uid, Gid: req.Gid, Data: data}
	return nil
}
