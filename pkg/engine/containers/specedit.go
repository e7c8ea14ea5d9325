package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// editSpec changes the container's stored spec, which its next task is
// created from: edit gets the spec and says whether it changed it; only
// then is it written back. The edits of one container are serialised
// (with docker update's).
func (d *Daemon) editSpec(ctx context.Context, c *Container, edit func(*specs.Spec) (bool, error)) error {
	lock, _ := updateLocks.LoadOrStore(c, new(sync.Mutex))
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()
	raw, err := d.sup.ContainerSpec(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("stored spec: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("stored spec: %w", err)
	}
	changed, err := edit(&s)
	if err != nil || !changed {
		return err
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return err
	}
	return d.sup.UpdateContainerSpec(ctx, c.ID, b)
}
