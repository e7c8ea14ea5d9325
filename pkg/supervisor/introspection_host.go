package supervisor

import (
	"context"

	"github.com/berthd/berth/pkg/sysinfo"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Host answers the host's facts, read afresh: a cgroup controller may be
// mounted or memory hot-plugged while supervisord runs.
func (is *introspectionService) Host(ctx context.Context, req *pb.HostRequest) (*pb.HostResponse, error) {
	h := sysinfo.Read()
	c := h.Cgroups
	return &pb.HostResponse{
		CgroupVersion: h.CgroupVersion,
		Cgroups: &pb.CgroupSupport{
			MemoryLimit: c.Memory, SwapLimit: c.Swap, CpuCfsPeriod: c.CPUCfsPeriod, CpuCfsQuota: c.CPUCfsQuota,
			CpuShares: c.CPUShares, Cpuset: c.Cpuset, PidsLimit: c.Pids, OomKillDisable: c.OOMKillDisable, CpuRealtime: c.CPURealtime,
		},
		MemTotal: h.MemTotal, Ncpu: int32(h.NCPU), KernelVersion: h.KernelVersion,
		OperatingSystem: h.OperatingSystem, OsVersion: h.OSVersion, Architecture: h.Architecture,
	}, nil
}
