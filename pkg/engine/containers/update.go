package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
)

// Updater is the part of the supervisor API `docker update` uses.
type Updater interface {
	// UpdateTask changes the live limits of the container's task.
	UpdateTask(ctx context.Context, id string, r *specs.LinuxResources) error
	// UpdateContainerSpec replaces the container's stored OCI spec (JSON),
	// which its next task is created from.
	UpdateContainerSpec(ctx context.Context, id string, spec []byte) error
}

func (r *Remote) UpdateTask(ctx context.Context, id string, res *specs.LinuxResources) error {
	return r.C.UpdateTask(ctx, id, res)
}

func (r *Remote) UpdateContainerSpec(ctx context.Context, id string, spec []byte) error {
	return r.C.UpdateContainerSpec(ctx, id, spec)
}

// updateLocks serialises the updates of one container: each reads the
// stored spec and writes it back.
var updateLocks sync.Map // *Container -> *sync.Mutex

// Update is `docker update`: it validates the new resources and restart
// policy as dockerd does, applies the resources to the container's task
// when it runs or is paused, and stores them in the HostConfig and in the
// supervisor's spec, so that the next start uses them too. A stopped or
// created container only gets the stored change. On an error nothing is
// changed.
func (d *Daemon) Update(ctx context.Context, ref string, u container.UpdateConfig) (container.UpdateResponse, error) {
	resp := container.UpdateResponse{Warnings: []string{}}
	sys, err := d.system(ctx)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	if err := verifyUpdate(&u.Resources, sys); err != nil {
		if errdefs.IsNotImplemented(err) || errdefs.IsInvalidArgument(err) {
			return resp, err
		}
		return resp, &msgError{msg: err.Error(), class: errdefs.ErrInvalidArgument}
	}
	if err := ValidateRestartPolicy(u.RestartPolicy); err != nil {
		return resp, err
	}
	c, err := d.Get(ref)
	if err != nil {
		return resp, err
	}
	lock, _ := updateLocks.LoadOrStore(c, new(sync.Mutex))
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()
	// The task made ahead was made from the spec this changes.
	d.dropAhead(ctx, c)

	// dockerd's wording; the class is the cause's unless one is given.
	cannot := func(err error, class error) error {
		if class == nil {
			return fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
		return &msgError{msg: fmt.Sprintf("Cannot update container %s: %v", c.ID, err), class: class}
	}
	c.mu.Lock()
	if c.removing {
		c.mu.Unlock()
		return resp, cannot(errors.New(`container is marked for removal and cannot be "update"`), errdefs.ErrConflict)
	}
	hc := *c.HostConfig
	live := (c.State.Running || c.State.Paused) && !c.State.Restarting
	c.mu.Unlock()

	curRes := hc.Resources
	if err := mergeUpdate(&hc, u, effectiveSwap(&curRes)); err != nil {
		return resp, cannot(err, errdefs.ErrConflict)
	}

	var oldSpec []byte
	if !reflect.DeepEqual(curRes, hc.Resources) {
		if oldSpec, err = d.sup.ContainerSpec(ctx, c.ID); err != nil {
			return resp, cannot(err, nil)
		}
		var spec specs.Spec
		if err := json.Unmarshal(oldSpec, &spec); err != nil {
			return resp, cannot(fmt.Errorf("stored spec: %w", err), nil)
		}
		if spec.Linux == nil {
			spec.Linux = &specs.Linux{}
		}
		res, err := oci.UpdatedResources(spec.Linux.Resources, &hc.Resources)
		if err != nil {
			return resp, err
		}
		if missing := oci.UnappliedResources(&u.Resources, res); len(missing) > 0 {
			return resp, cannot(fmt.Errorf("%s cannot be applied to a container yet", strings.Join(missing, ", ")), errdefs.ErrNotImplemented)
		}
		spec.Linux.Resources = res
		newSpec, err := json.Marshal(&spec)
		if err != nil {
			return resp, cannot(err, nil)
		}
		if err := d.sup.UpdateContainerSpec(ctx, c.ID, newSpec); err != nil {
			return resp, cannot(err, nil)
		}
		if live {
			// The device rules stay those the task was created with: the
			// runtime refuses to rewrite them.
			limits := *res
			limits.Devices = nil
			if err := d.sup.UpdateTask(ctx, c.ID, &limits); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
				// The task refused the limits (the kernel, say, would not
				// lower memory below what is in use): keep the old spec.
				if rerr := d.sup.UpdateContainerSpec(context.WithoutCancel(ctx), c.ID, oldSpec); rerr != nil {
					d.log.Error("restore spec after a failed update", "id", c.ID, "err", rerr)
				}
				return resp, cannot(err, nil)
			}
			// A task that exited meanwhile starts again from the new spec.
		}
	}

	c.mu.Lock()
	// Fields other requests may have changed meanwhile stay theirs.
	c.HostConfig.Resources = hc.Resources
	c.HostConfig.RestartPolicy = hc.RestartPolicy
	err = c.saveLocked()
	c.mu.Unlock()
	if err != nil {
		if oldSpec != nil {
			_ = d.sup.UpdateContainerSpec(context.WithoutCancel(ctx), c.ID, oldSpec)
		}
		return resp, cannot(err, nil)
	}
	d.emit(c, events.ActionUpdate, nil)
	return resp, nil
}

// effectiveSwap is the memory+swap limit the container has now: the
// stored one, or the one create derived from the memory limit.
func effectiveSwap(r *container.Resources) int64 {
	if r.MemorySwap != 0 || r.Memory == 0 {
		return r.MemorySwap
	}
	res, err := oci.UpdatedResources(nil, r)
	if err == nil && res.Memory != nil && res.Memory.Swap != nil {
		return *res.Memory.Swap
	}
	return -1
}

// mergeUpdate applies u to hc as dockerd does: a zero field is left
// unchanged; CPU quota and NanoCPUs exclude each other across updates; a
// memory limit above the current memory+swap limit needs a new swap limit.
func mergeUpdate(hc *container.HostConfig, u container.UpdateConfig, curSwap int64) error {
	n, c := &u.Resources, &hc.Resources
	switch {
	case n.NanoCPUs > 0 && c.CPUPeriod > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case n.NanoCPUs > 0 && c.CPUQuota > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case n.CPUPeriod > 0 && c.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case n.CPUQuota > 0 && c.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if n.Memory != 0 && n.MemorySwap == 0 && curSwap != -1 && n.Memory > curSwap {
		return errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if n.MemorySwap > 0 && n.Memory == 0 && c.Memory == 0 {
		return errors.New("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if n.Memory == 0 && n.MemorySwap > 0 && n.MemorySwap < c.Memory {
		return errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if hc.AutoRemove && u.RestartPolicy.Name != "" && u.RestartPolicy.Name != container.RestartPolicyDisabled {
		return errors.New("Restart policy cannot be updated because AutoRemove is enabled for the container")
	}
	setNonZero(&c.BlkioWeight, n.BlkioWeight)
	setNonZero(&c.CPUShares, n.CPUShares)
	setNonZero(&c.NanoCPUs, n.NanoCPUs)
	setNonZero(&c.CPUPeriod, n.CPUPeriod)
	setNonZero(&c.CPUQuota, n.CPUQuota)
	setNonZero(&c.CpusetCpus, n.CpusetCpus)
	setNonZero(&c.CpusetMems, n.CpusetMems)
	setNonZero(&c.Memory, n.Memory)
	setNonZero(&c.MemorySwap, n.MemorySwap)
	setNonZero(&c.MemoryReservation, n.MemoryReservation)
	setNonZero(&c.CPURealtimePeriod, n.CPURealtimePeriod)
	setNonZero(&c.CPURealtimeRuntime, n.CPURealtimeRuntime)
	if n.BlkioWeightDevice != nil {
		c.BlkioWeightDevice = n.BlkioWeightDevice
	}
	if n.BlkioDeviceReadBps != nil {
		c.BlkioDeviceReadBps = n.BlkioDeviceReadBps
	}
	if n.BlkioDeviceWriteBps != nil {
		c.BlkioDeviceWriteBps = n.BlkioDeviceWriteBps
	}
	if n.BlkioDeviceReadIOps != nil {
		c.BlkioDeviceReadIOps = n.BlkioDeviceReadIOps
	}
	if n.BlkioDeviceWriteIOps != nil {
		c.BlkioDeviceWriteIOps = n.BlkioDeviceWriteIOps
	}
	if n.PidsLimit != nil {
		v := *n.PidsLimit
		if v < 0 {
			v = 0 // 0 and -1 both mean no limit; docker stores 0
		}
		c.PidsLimit = &v
	}
	if u.RestartPolicy.Name != "" {
		hc.RestartPolicy = u.RestartPolicy
	}
	return nil
}

func setNonZero[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// verifyUpdate is dockerd's check of an update's resources: create's
// (oci.ValidateResources, with dockerd's messages), except that a swap
// limit may come without a memory limit (mergeUpdate checks it against the
// container's). Fields dockerd takes in an update and then ignores are
// refused here, named, since `docker update` cannot change them.
func verifyUpdate(r *container.Resources, sys oci.System) error {
	if r.MemorySwappiness != nil && *r.MemorySwappiness == -1 {
		r.MemorySwappiness = nil // -1 is "the default", as for create
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"CgroupParent", r.CgroupParent != ""},
		{"Devices", len(r.Devices) > 0},
		{"DeviceCgroupRules", len(r.DeviceCgroupRules) > 0},
		{"DeviceRequests", len(r.DeviceRequests) > 0},
		{"Ulimits", len(r.Ulimits) > 0},
		{"MemorySwappiness", r.MemorySwappiness != nil},
		{"OomKillDisable", r.OomKillDisable != nil},
	} {
		if f.set {
			return fmt.Errorf("%s cannot be updated on an existing container; docker update changes only CPU, memory, pids and block I/O limits and the restart policy", f.name)
		}
	}
	v := *r
	if v.Memory == 0 {
		v.MemorySwap = 0
	}
	return oci.ValidateResources(&v, sys)
}
