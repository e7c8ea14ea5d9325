package oci

import (
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UpdatedResources returns the linux.resources of a container whose
// HostConfig resources are now h (after `docker update`): the limits come
// from h through the conversion create uses, and the device rules stay
// those of cur (the spec's current resources): an update cannot change
// them.
//
// Unlike at create, "no limit" must be said explicitly, since the result
// also goes to a running container whose runtime keeps what it is not told
// to change: a pids limit of 0 or -1 becomes -1, and swap -1 stays -1.
//
// Its errors are create's (a block device path that is not one, say).
func UpdatedResources(cur *specs.LinuxResources, h *container.Resources) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if cur != nil {
		r.Devices = append([]specs.LinuxDeviceCgroup(nil), cur.Devices...)
	}
	if err := applyResources(r, h); err != nil {
		return nil, err
	}
	if h.PidsLimit != nil && *h.PidsLimit <= 0 {
		unlimited := int64(-1)
		r.Pids = &specs.LinuxPids{Limit: &unlimited}
	}
	if h.MemorySwap == -1 && r.Memory != nil && r.Memory.Limit != nil {
		unlimited := int64(-1)
		r.Memory.Swap = &unlimited
	}
	return r, nil
}

// UnappliedResources names the fields of upd (an update's resources, zero
// meaning "unchanged" as in the Engine API) that r, the resources made
// with UpdatedResources, does not carry: the engine refuses those rather
// than store a value that has no effect.
func UnappliedResources(upd *container.Resources, r *specs.LinuxResources) []string {
	mem := r.Memory
	if mem == nil {
		mem = &specs.LinuxMemory{}
	}
	cpu := r.CPU
	if cpu == nil {
		cpu = &specs.LinuxCPU{}
	}
	bio := r.BlockIO
	if bio == nil {
		bio = &specs.LinuxBlockIO{}
	}
	var missing []string
	for _, f := range []struct {
		name    string
		given   bool
		applied bool
	}{
		{"Memory", upd.Memory != 0, mem.Limit != nil},
		{"MemorySwap", upd.MemorySwap != 0, mem.Swap != nil},
		{"MemoryReservation", upd.MemoryReservation != 0, mem.Reservation != nil},
		{"CpuShares", upd.CPUShares != 0, cpu.Shares != nil},
		{"NanoCpus", upd.NanoCPUs != 0, cpu.Quota != nil && cpu.Period != nil},
		{"CpuPeriod", upd.CPUPeriod != 0, cpu.Period != nil},
		{"CpuQuota", upd.CPUQuota != 0, cpu.Quota != nil},
		{"CpuRealtimePeriod", upd.CPURealtimePeriod != 0, cpu.RealtimePeriod != nil},
		{"CpuRealtimeRuntime", upd.CPURealtimeRuntime != 0, cpu.RealtimeRuntime != nil},
		{"CpusetCpus", upd.CpusetCpus != "", cpu.Cpus != ""},
		{"CpusetMems", upd.CpusetMems != "", cpu.Mems != ""},
		{"BlkioWeight", upd.BlkioWeight != 0, bio.Weight != nil},
		{"BlkioWeightDevice", len(upd.BlkioWeightDevice) > 0, len(bio.WeightDevice) > 0},
		{"BlkioDeviceReadBps", len(upd.BlkioDeviceReadBps) > 0, len(bio.ThrottleReadBpsDevice) > 0},
		{"BlkioDeviceWriteBps", len(upd.BlkioDeviceWriteBps) > 0, len(bio.ThrottleWriteBpsDevice) > 0},
		{"BlkioDeviceReadIOps", len(upd.BlkioDeviceReadIOps) > 0, len(bio.ThrottleReadIOPSDevice) > 0},
		{"BlkioDeviceWriteIOps", len(upd.BlkioDeviceWriteIOps) > 0, len(bio.ThrottleWriteIOPSDevice) > 0},
		{"PidsLimit", upd.PidsLimit != nil, r.Pids != nil && r.Pids.Limit != nil},
	} {
		if f.given && !f.applied {
			missing = append(missing, f.name)
		}
	}
	return missing
}
