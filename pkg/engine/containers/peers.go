package containers

import (
	"context"

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
	return d.editSpec(ctx, c, func(s *specs.Spec) (bool, error) {
		return oci.RejoinPeers(s, hc, d.peer)
	})
}
