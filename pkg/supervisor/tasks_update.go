package supervisor

import (
	"context"
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Update hands the new resource limits to the task's shim, which applies
// them with the runtime: supervisord never writes a cgroup itself.
func (ts *tasksService) Update(ctx context.Context, req *pb.UpdateTaskRequest) (*pb.UpdateTaskResponse, error) {
	if len(req.Resources) == 0 {
		return nil, fmt.Errorf("update task %s: no resources: %w", req.ContainerId, errdefs.ErrInvalidArgument)
	}
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := t.shim.Update(ctx, req.Resources); err != nil {
		return nil, fmt.Errorf("update task %s: %w", req.ContainerId, err)
	}
	return &pb.UpdateTaskResponse{}, nil
}

// ReopenLog has the task's shim reopen its log file.
func (ts *tasksService) ReopenLog(ctx context.Context, req *pb.ReopenLogRequest) (*pb.ReopenLogResponse, error) {
	t, err := ts.live(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := t.shim.ReopenLog(ctx); err != nil {
		return nil, fmt.Errorf("reopen log of task %s: %w", req.ContainerId, err)
	}
	return &pb.ReopenLogResponse{}, nil
}
