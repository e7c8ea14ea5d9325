package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
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

// linuxMinMemory is dockerd's smallest memory limit (6 MB).
const linuxMinMemory = 6 * 1024 * 1024

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
	if err := verifyUpdate(&u.Resources); err != nil {
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
		res := oci.UpdatedResources(spec.Linux.Resources, &hc.Resources)
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
	res := oci.UpdatedResources(nil, r)
	if res.Memory != nil && res.Memory.Swap != nil {
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

// verifyUpdate is dockerd's check of an update's resources, with its
// messages; fields dockerd would take and then ignore are refused here,
// named, since `docker update` cannot change them.
func verifyUpdate(r *container.Resources) error {
	if r.MemorySwappiness != nil && *r.MemorySwappiness == -1 {
		r.MemorySwappiness = nil // -1 is "the default", as for create
	}
	switch {
	case r.Memory != 0 && r.Memory < linuxMinMemory:
		return errors.New("Minimum memory limit allowed is 6MB")
	case r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	case r.MemorySwappiness != nil && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100):
		return fmt.Errorf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	case r.MemoryReservation > 0 && r.MemoryReservation < linuxMinMemory:
		return errors.New("Minimum memory reservation allowed is 6MB")
	case r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation:
		return errors.New("Minimum memory limit can not be less than memory reservation limit, see usage")
	case r.NanoCPUs > 0 && r.CPUPeriod > 0:
		return errors.New("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	case r.NanoCPUs > 0 && r.CPUQuota > 0:
		return errors.New("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	case r.NanoCPUs != 0 && (r.NanoCPUs < 0 || r.NanoCPUs > int64(runtime.NumCPU())*1e9):
		return fmt.Errorf("range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", runtime.NumCPU())
	case r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000):
		return errors.New("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	case r.CPUQuota > 0 && r.CPUQuota < 1000:
		return errors.New("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	case r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000):
		return errors.New("Range of blkio weight is from 10 to 1000")
	case r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0:
		return errors.New("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
	}
	if err := checkCpuset(r.CpusetCpus, "cpus", "CPUs", cpusetAvailable("cpus", "/sys/devices/system/cpu/online")); err != nil {
		return err
	}
	if err := checkCpuset(r.CpusetMems, "mems", "memory nodes", cpusetAvailable("mems", "/sys/devices/system/node/online")); err != nil {
		return err
	}
	// What dockerd accepts in an update body but never applies.
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
		{"CpuCount", r.CPUCount != 0},
		{"CpuPercent", r.CPUPercent != 0},
	} {
		if f.set {
			return fmt.Errorf("%s cannot be updated on an existing container; docker update changes only CPU, memory, pids and block I/O limits and the restart policy", f.name)
		}
	}
	return nil
}

// checkCpuset is dockerd's check of a cpuset-cpus or cpuset-mems value
// against what the host offers.
func checkCpuset(val, kind, what, available string) error {
	if val == "" {
		return nil
	}
	want, err := parseCPUSet(val)
	if err != nil {
		return fmt.Errorf("Invalid value %s for cpuset %s: %w", val, kind, err)
	}
	have, err := parseCPUSet(available)
	if err != nil || available == "" {
		return nil // the host's set is unknown: the runtime decides
	}
	for n := range want {
		if !have[n] {
			return fmt.Errorf("Requested %s are not available - requested %s, available: %s", what, val, available)
		}
	}
	return nil
}

// cpusetAvailable reads the CPUs or memory nodes the engine's own cpuset
// allows (containers are placed below it), else those online.
func cpusetAvailable(kind, online string) string {
	for _, p := range []string{"/sys/fs/cgroup/cpuset/cpuset.effective_" + kind, "/sys/fs/cgroup/cpuset/cpuset." + kind,
		"/sys/fs/cgroup/cpuset." + kind + ".effective", online} {
		if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// parseCPUSet reads the kernel's list format: "0-3,5,7-8".
func parseCPUSet(s string) (map[int]bool, error) {
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid format: %s", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid range format: %s", part)
			}
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}
