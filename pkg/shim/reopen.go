package shim

import (
	"context"
	"fmt"
	"os"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// ReopenLog opens the container's log file at its path again: whoever
// moved the file away (the kubelet rotating CRI logs) keeps the old one,
// and records go to a new file at the path from now on.
func (s *service) ReopenLog(ctx context.Context, req *shimv1.ReopenLogRequest) (*shimv1.ReopenLogResponse, error) {
	s.mu.Lock()
	cio := s.io
	s.mu.Unlock()
	if cio == nil || cio.log == nil {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s has no log file: %w", s.cfg.ID, errdefs.ErrFailedPrecondition))
	}
	if err := cio.log.Reopen(); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.ReopenLogResponse{}, nil
}

// Reopen flushes nothing (partial lines stay buffered for the new file)
// and swaps the file under the writer's lock.
func (w *LogWriter) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.reopen()
}

func (r *RotatingFile) reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reopen log file: %w", err)
	}
	r.f.Close()
	r.f, r.size = f, st.Size()
	return nil
}
