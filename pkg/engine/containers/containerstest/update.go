package containerstest

import (
	"context"
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// UpdateTask records the limits on a task whose init has not exited, as
// the shim would apply them.
func (s *Supervisor) UpdateTask(_ context.Context, id string, r *specs.LinuxResources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	if t.procs[""].status == supervisorv1.TaskStatus_TASK_STATUS_STOPPED {
		return fmt.Errorf("task %s has exited: %w", id, errdefs.ErrFailedPrecondition)
	}
	if len(r.Devices) > 0 {
		// As the runtimes: a live container's device rules stay.
		return fmt.Errorf("task %s: devices cannot be updated: %w", id, errdefs.ErrInvalidArgument)
	}
	if s.UpdateErr != nil {
		return s.UpdateErr
	}
	t.Resources = r
	return nil
}

// TaskResources returns the live limits of task id (nil if never updated).
func (s *Supervisor) TaskResources(id string) *specs.LinuxResources {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.Tasks[id]; ok {
		return t.Resources
	}
	return nil
}

func (s *Supervisor) UpdateContainerSpec(_ context.Context, id string, spec []byte) error {
	if !json.Valid(spec) {
		return fmt.Errorf("container %s: spec is not JSON: %w", id, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.Containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	c.Spec = spec
	return nil
}
