package shim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// Update runs `runtime update --resources -` with the request's
// LinuxResources JSON on the runtime's stdin. The runtime merges it into
// the container's limits and writes its cgroups; the shim only checks that
// there is a container to update.
func (s *service) Update(ctx context.Context, req *shimv1.UpdateRequest) (*shimv1.UpdateResponse, error) {
	if err := s.update(req.Resources); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &shimv1.UpdateResponse{}, nil
}

// updateMu runs one update at a time: each runtime update reads the
// container's saved limits, merges and saves them, and two at once would
// lose one of the merges. A shim serves one container.
var updateMu sync.Mutex

func (s *service) update(resources []byte) error {
	if r := bytes.TrimSpace(resources); len(r) == 0 || r[0] != '{' {
		return fmt.Errorf("update %s: resources must be a JSON LinuxResources object: %w", s.cfg.ID, errdefs.ErrInvalidArgument)
	}
	updateMu.Lock()
	defer updateMu.Unlock()
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	switch status {
	case shimv1.Status_STATUS_CREATED, shimv1.Status_STATUS_RUNNING, shimv1.Status_STATUS_PAUSED:
	default:
		return fmt.Errorf("cannot update the resources of a container that is %s: %w", statusName(status), errdefs.ErrFailedPrecondition)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	// The JSON may not fit into the pipe's buffer: write it while the
	// runtime reads.
	go func() {
		_, _ = wr.Write(resources)
		wr.Close()
	}()
	return s.rt.run(&stdio{in: rd}, "update", "--resources", "-", s.cfg.ID)
}
