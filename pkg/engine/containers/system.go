package containers

import (
	"context"
	"fmt"

	"github.com/berthd/berth/pkg/engine/oci"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// OCISystem is what a spec needs of the host's facts.
func OCISystem(h *supervisorv1.HostResponse) oci.System {
	return oci.System{CgroupV2: h.GetCgroupVersion() == "2", CPURealtime: h.GetCgroups().GetCpuRealtime()}
}

// system asks the supervisor what the host supports once: a cgroup
// version does not change while the host runs.
func (d *Daemon) system(ctx context.Context) (oci.System, error) {
	d.sysMu.Lock()
	defer d.sysMu.Unlock()
	if d.sys != nil {
		return *d.sys, nil
	}
	h, err := d.sup.Host(ctx)
	if err != nil {
		return oci.System{}, fmt.Errorf("host facts from the supervisor: %w", err)
	}
	sys := OCISystem(h)
	d.sys = &sys
	return sys, nil
}
