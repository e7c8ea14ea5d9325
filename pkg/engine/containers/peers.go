package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/oci"
)

// rejoinPeers brings the stored spec of a container that joins another
// container's namespaces up to date with that container's current init
// before a start: the paths written at create name an init that is gone
// once the peer restarted. Containers that join nobody cost nothing.
func (d *Daemon) rejoinPeers(ctx context.Context, c *Container) error {
	c.mu.Lock()
	hc := c.HostConfig
	c.mu.Unlock()
	if !oci.JoinsPeers(hc) {
		return nil
	}
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
	changed, err := oci.RejoinPeers(&s, hc, d.peer)
	if err != nil || !changed {
		return err
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return err
	}
	return d.sup.UpdateContainerSpec(ctx, c.ID, b)
}
