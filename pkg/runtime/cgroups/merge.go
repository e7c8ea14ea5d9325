package cgroups

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Merge returns the resources a container has after an update: every field
// set in upd replaces the one in cur (nil pointers and empty strings mean
// "unchanged", as for `runc update`), per-device block I/O entries replace
// the entry of the same device, and the rest of cur is kept. Neither
// argument is modified.
//
// What cannot be changed on a live container is refused rather than
// dropped: device rules (the device cgroup of a running container is not
// rewritten) and kernel memory limits (which current kernels ignore).
func Merge(cur, upd *specs.LinuxResources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}
	if cur != nil {
		out = clone(cur)
	}
	if upd == nil {
		return out, nil
	}
	if len(upd.Devices) > 0 {
		return nil, errors.New("devices cannot be updated on an existing container")
	}
	if m := upd.Memory; m != nil {
		if m.Kernel != nil || m.KernelTCP != nil {
			return nil, errors.New("kernel memory limits cannot be updated: kernel memory accounting is not supported")
		}
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		o := out.Memory
		setPtr(&o.Limit, m.Limit)
		setPtr(&o.Reservation, m.Reservation)
		setPtr(&o.Swap, m.Swap)
		setPtr(&o.Swappiness, m.Swappiness)
		setPtr(&o.DisableOOMKiller, m.DisableOOMKiller)
		setPtr(&o.UseHierarchy, m.UseHierarchy)
		setPtr(&o.CheckBeforeUpdate, m.CheckBeforeUpdate)
		// An unlimited memory limit with no swap given makes swap unlimited
		// too: the kernel refuses a swap limit without a memory limit.
		if m.Limit != nil && *m.Limit == -1 && m.Swap == nil {
			o.Swap = ptr(int64(-1))
		}
	}
	if c := upd.CPU; c != nil {
		if out.CPU == nil {
			out.CPU = &specs.LinuxCPU{}
		}
		o := out.CPU
		setPtr(&o.Shares, c.Shares)
		setPtr(&o.Quota, c.Quota)
		setPtr(&o.Burst, c.Burst)
		setPtr(&o.Period, c.Period)
		setPtr(&o.RealtimeRuntime, c.RealtimeRuntime)
		setPtr(&o.RealtimePeriod, c.RealtimePeriod)
		setPtr(&o.Idle, c.Idle)
		if c.Cpus != "" {
			o.Cpus = c.Cpus
		}
		if c.Mems != "" {
			o.Mems = c.Mems
		}
	}
	if p := upd.Pids; p != nil && p.Limit != nil {
		out.Pids = &specs.LinuxPids{Limit: p.Limit}
	}
	if b := upd.BlockIO; b != nil {
		if out.BlockIO == nil {
			out.BlockIO = &specs.LinuxBlockIO{}
		}
		o := out.BlockIO
		setPtr(&o.Weight, b.Weight)
		setPtr(&o.LeafWeight, b.LeafWeight)
		for _, d := range b.WeightDevice {
			o.WeightDevice = upsert(o.WeightDevice, d, func(x specs.LinuxWeightDevice) specs.LinuxBlockIODevice { return x.LinuxBlockIODevice })
		}
		thr := func(x specs.LinuxThrottleDevice) specs.LinuxBlockIODevice { return x.LinuxBlockIODevice }
		for _, d := range b.ThrottleReadBpsDevice {
			o.ThrottleReadBpsDevice = upsert(o.ThrottleReadBpsDevice, d, thr)
		}
		for _, d := range b.ThrottleWriteBpsDevice {
			o.ThrottleWriteBpsDevice = upsert(o.ThrottleWriteBpsDevice, d, thr)
		}
		for _, d := range b.ThrottleReadIOPSDevice {
			o.ThrottleReadIOPSDevice = upsert(o.ThrottleReadIOPSDevice, d, thr)
		}
		for _, d := range b.ThrottleWriteIOPSDevice {
			o.ThrottleWriteIOPSDevice = upsert(o.ThrottleWriteIOPSDevice, d, thr)
		}
	}
	for _, h := range upd.HugepageLimits {
		o := out.HugepageLimits
		found := false
		for i := range o {
			if o[i].Pagesize == h.Pagesize {
				o[i].Limit, found = h.Limit, true
			}
		}
		if !found {
			out.HugepageLimits = append(o, h)
		}
	}
	if n := upd.Network; n != nil {
		if out.Network == nil {
			out.Network = &specs.LinuxNetwork{}
		}
		setPtr(&out.Network.ClassID, n.ClassID)
		for _, p := range n.Priorities {
			found := false
			for i := range out.Network.Priorities {
				if out.Network.Priorities[i].Name == p.Name {
					out.Network.Priorities[i].Priority, found = p.Priority, true
				}
			}
			if !found {
				out.Network.Priorities = append(out.Network.Priorities, p)
			}
		}
	}
	if len(upd.Unified) > 0 {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		for k, v := range upd.Unified {
			out.Unified[k] = v
		}
	}
	if upd.Rdma != nil {
		return nil, fmt.Errorf("rdma limits cannot be updated: the rdma controller is not supported")
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

func setPtr[T any](dst **T, src *T) {
	if src != nil {
		v := *src
		*dst = &v
	}
}

// upsert replaces the entry of d's device in list, or appends d.
func upsert[T any](list []T, d T, dev func(T) specs.LinuxBlockIODevice) []T {
	for i := range list {
		if dev(list[i]) == dev(d) {
			list[i] = d
			return list
		}
	}
	return append(list, d)
}

// clone deep-copies r (through its value fields and slices the merge
// writes to).
func clone(r *specs.LinuxResources) *specs.LinuxResources {
	c := *r
	if r.Memory != nil {
		m := *r.Memory
		c.Memory = &m
	}
	if r.CPU != nil {
		v := *r.CPU
		c.CPU = &v
	}
	if r.Pids != nil {
		v := *r.Pids
		c.Pids = &v
	}
	if r.BlockIO != nil {
		v := *r.BlockIO
		v.WeightDevice = append([]specs.LinuxWeightDevice(nil), v.WeightDevice...)
		v.ThrottleReadBpsDevice = append([]specs.LinuxThrottleDevice(nil), v.ThrottleReadBpsDevice...)
		v.ThrottleWriteBpsDevice = append([]specs.LinuxThrottleDevice(nil), v.ThrottleWriteBpsDevice...)
		v.ThrottleReadIOPSDevice = append([]specs.LinuxThrottleDevice(nil), v.ThrottleReadIOPSDevice...)
		v.ThrottleWriteIOPSDevice = append([]specs.LinuxThrottleDevice(nil), v.ThrottleWriteIOPSDevice...)
		c.BlockIO = &v
	}
	c.HugepageLimits = append([]specs.LinuxHugepageLimit(nil), r.HugepageLimits...)
	if r.Network != nil {
		v := *r.Network
		v.Priorities = append([]specs.LinuxInterfacePriority(nil), v.Priorities...)
		c.Network = &v
	}
	if r.Unified != nil {
		c.Unified = make(map[string]string, len(r.Unified))
		for k, v := range r.Unified {
			c.Unified[k] = v
		}
	}
	c.Devices = append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	return &c
}
