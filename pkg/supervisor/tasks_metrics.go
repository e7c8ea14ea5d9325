package supervisor

import (
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// metricsDetail is the shim's StatsDetail in the supervisor's API (nil
// when not asked for).
func metricsDetail(d *shimv1.StatsDetail) *pb.MetricsDetail {
	if d == nil {
		return nil
	}
	out := &pb.MetricsDetail{
		CpuPeriods: d.CpuPeriods, CpuThrottledPeriods: d.CpuThrottledPeriods, CpuThrottledNs: d.CpuThrottledNs,
		CpuShares: d.CpuShares, CpuPeriodUs: d.CpuPeriodUs, CpuQuotaUs: d.CpuQuotaUs,
		MemoryRss: d.MemoryRss, MemoryMappedFile: d.MemoryMappedFile, MemorySwap: d.MemorySwap,
		MemoryKernel: d.MemoryKernel, MemoryFailcnt: d.MemoryFailcnt,
		MemoryPgfault: d.MemoryPgfault, MemoryPgmajfault: d.MemoryPgmajfault,
		MemoryHierarchyPgfault: d.MemoryHierarchyPgfault, MemoryHierarchyPgmajfault: d.MemoryHierarchyPgmajfault,
		MemoryActiveFile: d.MemoryActiveFile, MemoryInactiveFile: d.MemoryInactiveFile, MemoryOomKills: d.MemoryOomKills,
		MemoryReservation: d.MemoryReservation, MemorySwapLimit: d.MemorySwapLimit,
		Processes: d.Processes, Threads: d.Threads, FileDescriptors: d.FileDescriptors, Sockets: d.Sockets,
	}
	for _, b := range d.BlockIo {
		out.BlockIo = append(out.BlockIo, &pb.BlockDeviceIO{Major: b.Major, Minor: b.Minor,
			ReadBytes: b.ReadBytes, WriteBytes: b.WriteBytes, Reads: b.Reads, Writes: b.Writes})
	}
	return out
}
