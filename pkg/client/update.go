package client

import (
	"context"
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// UpdateTask changes the resource limits of container id's live task (its
// shim applies them with the runtime); fields of r left nil stay as they
// are. The container's stored spec is not changed: see UpdateContainerSpec.
func (c *Client) UpdateTask(ctx context.Context, id string, r *specs.LinuxResources) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("update task %s: %w", id, err)
	}
	_, err = c.TaskService().Update(ctx, &supervisorv1.UpdateTaskRequest{ContainerId: id, Resources: b})
	return err
}

// UpdateContainerSpec replaces the stored OCI spec (JSON) of container id,
// which its next task is created from.
func (c *Client) UpdateContainerSpec(ctx context.Context, id string, spec []byte) error {
	_, err := c.ContainerService().Update(ctx, &supervisorv1.UpdateContainerRequest{
		Container: &supervisorv1.Container{Id: id, Spec: spec}, UpdateFields: []string{"spec"},
	})
	return err
}
