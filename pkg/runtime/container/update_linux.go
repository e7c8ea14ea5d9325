package container

import (
	"fmt"

	"github.com/berthd/berth/pkg/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the resource limits of a created, running or paused
// container: upd is merged into the limits saved in its state (fields left
// nil or empty stay as they are), the merged limits are written to its
// cgroups, and the state is saved so that later commands see them. Device
// rules are not rewritten (cgroups.Merge refuses them). If the cgroups
// refuse a value, the previous limits are written back and the state is
// left as it was.
func Update(root, id string, upd *specs.LinuxResources) error {
	s, err := Load(root, id)
	if err != nil {
		return err
	}
	if s.Status == Stopped {
		return classErr(ErrFailedPrecondition, "container %s is not running", id)
	}
	if s.Cgroups == nil {
		return classErr(ErrFailedPrecondition, "container %s has no cgroups to update", id)
	}
	cur, err := s.Resources()
	if err != nil {
		return err
	}
	merged, err := cgroups.Merge(cur, upd)
	if err != nil {
		return classErr(ErrInvalidArgument, "update %s: %v", id, err)
	}
	if len(merged.Unified) > 0 && s.Cgroups.V2 == "" {
		return classErr(ErrInvalidArgument, "update %s: unified resources need cgroup v2; this host uses v1", id)
	}
	cgroups.Warnf = func(format string, a ...any) { Warnf(format, a...) }
	if err := s.Cgroups.Set(withoutDevices(merged)); err != nil {
		if rerr := s.Cgroups.Set(withoutDevices(cur)); rerr != nil {
			Warnf("restore limits of %s after a failed update: %v", id, rerr)
		}
		return fmt.Errorf("update %s: %w", id, err)
	}
	if err := s.SetResources(merged); err != nil {
		return err
	}
	return s.save()
}

// withoutDevices is r without its device rules, which a live container keeps.
func withoutDevices(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		return nil
	}
	c := *r
	c.Devices = nil
	return &c
}
