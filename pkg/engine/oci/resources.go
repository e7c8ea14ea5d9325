package oci

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// minMemory is dockerd's lower bound for a memory limit or reservation.
const minMemory = 6 * 1024 * 1024

// ValidateResources checks the limits as dockerd does, with its messages.
func ValidateResources(r *container.Resources, sys System) error {
	if r.Memory != 0 && r.Memory < minMemory {
		return invalid("HostConfig.Memory", "Minimum memory limit allowed is 6MB")
	}
	if r.MemorySwap > 0 && r.Memory == 0 {
		return invalid("HostConfig.MemorySwap", "You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwap < -1 {
		return invalid("HostConfig.MemorySwap", "invalid memory swap limit %d: must be -1 (unlimited) or a size", r.MemorySwap)
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return invalid("HostConfig.MemorySwap", "Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if s := r.MemorySwappiness; s != nil && *s != -1 && (*s < 0 || *s > 100) {
		return invalid("HostConfig.MemorySwappiness", "Invalid value: %v, valid memory swappiness range is 0-100", *s)
	}
	if r.MemoryReservation != 0 && r.MemoryReservation < minMemory {
		return invalid("HostConfig.MemoryReservation", "Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return invalid("HostConfig.MemoryReservation", "Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.CPUShares < 0 {
		return invalid("HostConfig.CpuShares", "invalid CPU shares %d: must not be negative", r.CPUShares)
	}
	if r.NanoCPUs != 0 {
		if r.CPUPeriod != 0 {
			return invalid("HostConfig.NanoCpus", "Conflicting options: Nano CPUs and CPU Period cannot both be set")
		}
		if r.CPUQuota != 0 {
			return invalid("HostConfig.NanoCpus", "Conflicting options: Nano CPUs and CPU Quota cannot both be set")
		}
		n := int64(runtime.NumCPU())
		if r.NanoCPUs < 0 || r.NanoCPUs > n*1e9 {
			return invalid("HostConfig.NanoCpus", "Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
		}
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return invalid("HostConfig.CpuPeriod", "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota != 0 && r.CPUQuota != -1 && r.CPUQuota < 1000 {
		return invalid("HostConfig.CpuQuota", "CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0 {
		// The real-time group scheduler is compiled out of most kernels
		// (and of this host's); dockerd refuses it the same way there.
		field := "HostConfig.CpuRealtimeRuntime"
		if r.CPURealtimePeriod != 0 {
			field = "HostConfig.CpuRealtimePeriod"
		}
		if !sys.CPURealtime {
			return invalid(field, "Your kernel does not support CPU real-time scheduler")
		}
		return unsupported(field, "real-time CPU limits")
	}
	if err := checkCpuset("HostConfig.CpusetCpus", r.CpusetCpus, "/sys/devices/system/cpu/online"); err != nil {
		return err
	}
	if err := checkCpuset("HostConfig.CpusetMems", r.CpusetMems, "/sys/devices/system/node/online"); err != nil {
		return err
	}
	if r.BlkioWeight != 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return invalid("HostConfig.BlkioWeight", "Range of blkio weight is from 10 to 1000")
	}
	for _, w := range r.BlkioWeightDevice {
		if w.Weight < 10 || w.Weight > 1000 {
			return invalid("HostConfig.BlkioWeightDevice", "invalid weight for device %s: %d: range of blkio weight is from 10 to 1000", w.Path, w.Weight)
		}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"HostConfig.CpuCount", r.CPUCount != 0},
		{"HostConfig.CpuPercent", r.CPUPercent != 0},
		{"HostConfig.IOMaximumIOps", r.IOMaximumIOps != 0},
		{"HostConfig.IOMaximumBandwidth", r.IOMaximumBandwidth != 0},
	} {
		if f.set {
			return invalid(f.name, "%s is only supported on Windows", strings.TrimPrefix(f.name, "HostConfig."))
		}
	}
	for _, u := range r.Ulimits {
		if _, ok := rlimits[strings.ToLower(u.Name)]; !ok {
			return invalid("HostConfig.Ulimits", "invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard {
			return invalid("HostConfig.Ulimits", "ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	if len(r.DeviceRequests) > 0 {
		return invalid("HostConfig.DeviceRequests", "could not select device driver %q with capabilities: %v", r.DeviceRequests[0].Driver, r.DeviceRequests[0].Capabilities)
	}
	return nil
}

// checkCpuset checks a cpuset list ("0-2,4") against what the host has.
func checkCpuset(field, list, onlineFile string) error {
	if list == "" {
		return nil
	}
	want, err := parseSet(list)
	if err != nil {
		return invalid(field, "Invalid value %s for cpuset %s", list, strings.ToLower(strings.TrimPrefix(field, "HostConfig.Cpuset")))
	}
	b, err := os.ReadFile(onlineFile)
	if err != nil {
		return nil // no such information on this host: the cgroup write decides
	}
	have, err := parseSet(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	for n := range want {
		if !have[n] {
			kind := "CPUs"
			if strings.HasSuffix(field, "Mems") {
				kind = "memory nodes"
			}
			return invalid(field, "Requested %s are not available - requested %s, available: %s", kind, list, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

func parseSet(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad cpuset %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad cpuset %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// applyResources sets every cgroup limit of the request: memory (and swap
// equal to it unless --memory-swap says otherwise, so an over-limit
// container is OOM-killed rather than swapped), reservation, swappiness,
// OOM killer, pids, CPU shares/quota/period/cpuset, block I/O weights and
// throttles. Device rules are done by the caller.
func applyResources(r *specs.LinuxResources, h *container.Resources) error {
	if h.Memory > 0 || h.MemoryReservation > 0 || h.MemorySwappiness != nil && *h.MemorySwappiness >= 0 || h.OomKillDisable != nil && *h.OomKillDisable {
		m := &specs.LinuxMemory{}
		if h.Memory > 0 {
			limit := h.Memory
			m.Limit = &limit
			swap := h.MemorySwap
			if swap == 0 {
				swap = limit
			}
			if swap != 0 {
				m.Swap = &swap
			}
		}
		if h.MemoryReservation > 0 {
			v := h.MemoryReservation
			m.Reservation = &v
		}
		if s := h.MemorySwappiness; s != nil && *s >= 0 {
			v := uint64(*s)
			m.Swappiness = &v
		}
		if h.OomKillDisable != nil && *h.OomKillDisable {
			v := true
			m.DisableOOMKiller = &v
		}
		r.Memory = m
	}
	if h.PidsLimit != nil && *h.PidsLimit != 0 {
		limit := *h.PidsLimit
		if limit < 0 {
			limit = -1 // unlimited, as dockerd
		}
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if h.CPUShares > 0 || h.NanoCPUs > 0 || h.CPUPeriod > 0 || h.CPUQuota != 0 || h.CpusetCpus != "" || h.CpusetMems != "" {
		c := &specs.LinuxCPU{Cpus: h.CpusetCpus, Mems: h.CpusetMems}
		if h.CPUShares > 0 {
			shares := uint64(h.CPUShares)
			c.Shares = &shares
		}
		if h.NanoCPUs > 0 {
			period := uint64(100000)
			quota := h.NanoCPUs * int64(period) / 1e9
			c.Period, c.Quota = &period, &quota
		}
		if h.CPUPeriod > 0 {
			p := uint64(h.CPUPeriod)
			c.Period = &p
		}
		if h.CPUQuota != 0 {
			q := h.CPUQuota
			c.Quota = &q
		}
		r.CPU = c
	}
	if err := applyBlkio(r, h); err != nil {
		return err
	}
	return nil
}

func applyBlkio(r *specs.LinuxResources, h *container.Resources) error {
	if h.BlkioWeight == 0 && len(h.BlkioWeightDevice) == 0 && len(h.BlkioDeviceReadBps) == 0 &&
		len(h.BlkioDeviceWriteBps) == 0 && len(h.BlkioDeviceReadIOps) == 0 && len(h.BlkioDeviceWriteIOps) == 0 {
		return nil
	}
	b := &specs.LinuxBlockIO{}
	if h.BlkioWeight != 0 {
		w := h.BlkioWeight
		b.Weight = &w
	}
	for _, d := range h.BlkioWeightDevice {
		major, minor, err := blockDevice("HostConfig.BlkioWeightDevice", d.Path)
		if err != nil {
			return err
		}
		w := d.Weight
		dev := specs.LinuxWeightDevice{Weight: &w}
		dev.Major, dev.Minor = major, minor
		b.WeightDevice = append(b.WeightDevice, dev)
	}
	for _, t := range []struct {
		field string
		in    []*blkiodev.ThrottleDevice
		out   *[]specs.LinuxThrottleDevice
	}{
		{"HostConfig.BlkioDeviceReadBps", h.BlkioDeviceReadBps, &b.ThrottleReadBpsDevice},
		{"HostConfig.BlkioDeviceWriteBps", h.BlkioDeviceWriteBps, &b.ThrottleWriteBpsDevice},
		{"HostConfig.BlkioDeviceReadIOps", h.BlkioDeviceReadIOps, &b.ThrottleReadIOPSDevice},
		{"HostConfig.BlkioDeviceWriteIOps", h.BlkioDeviceWriteIOps, &b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.in {
			major, minor, err := blockDevice(t.field, d.Path)
			if err != nil {
				return err
			}
			dev := specs.LinuxThrottleDevice{Rate: d.Rate}
			dev.Major, dev.Minor = major, minor
			*t.out = append(*t.out, dev)
		}
	}
	r.BlockIO = b
	return nil
}

// blockDevice is the major:minor of a host block device, for the blkio
// rules dockerd sets by device path.
func blockDevice(field, path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, invalid(field, "error getting block device %s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, invalid(field, "%s is not a block device", path)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}
