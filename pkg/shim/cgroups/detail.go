package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// Detail reads the rest of the counters cAdvisor's container series are
// made of (the CRI's metrics): CFS throttling, the memory breakdown, OOM
// kills, per-device I/O, the limits as set, and the processes' threads,
// open files and sockets from /proc.
func (cg *Cgroup) Detail() *shimv1.StatsDetail {
	var d *shimv1.StatsDetail
	if len(cg.v1) > 0 {
		d = cg.detailV1()
	} else {
		d = cg.detailV2()
	}
	if pids, err := cg.Pids(); err == nil {
		d.Processes = uint64(len(pids))
		for _, p := range pids {
			threads, fds, sockets := procCounts(p)
			d.Threads += threads
			d.FileDescriptors += fds
			d.Sockets += sockets
		}
	}
	return d
}

func (cg *Cgroup) detailV1() *shimv1.StatsDetail {
	d := &shimv1.StatsDetail{}
	if dir, ok := cg.v1["cpu"]; ok {
		st := readKV(filepath.Join(dir, "cpu.stat"))
		d.CpuPeriods, d.CpuThrottledPeriods, d.CpuThrottledNs = st["nr_periods"], st["nr_throttled"], st["throttled_time"]
		d.CpuShares = readUint(filepath.Join(dir, "cpu.shares"))
		d.CpuPeriodUs = readUint(filepath.Join(dir, "cpu.cfs_period_us"))
		d.CpuQuotaUs = readUint(filepath.Join(dir, "cpu.cfs_quota_us")) // -1 (none) does not parse: 0
	}
	if dir, ok := cg.v1["memory"]; ok {
		st := readKV(filepath.Join(dir, "memory.stat"))
		d.MemoryRss, d.MemoryMappedFile = st["total_rss"], st["total_mapped_file"]
		d.MemoryActiveFile, d.MemoryInactiveFile = st["total_active_file"], st["total_inactive_file"]
		d.MemoryPgfault, d.MemoryPgmajfault = st["pgfault"], st["pgmajfault"]
		d.MemoryHierarchyPgfault, d.MemoryHierarchyPgmajfault = st["total_pgfault"], st["total_pgmajfault"]
		// Swap is memory+swap less memory, where swap is accounted.
		if memsw := readUint(filepath.Join(dir, "memory.memsw.usage_in_bytes")); memsw > 0 {
			if usage := readUint(filepath.Join(dir, "memory.usage_in_bytes")); memsw > usage {
				d.MemorySwap = memsw - usage
			}
		}
		d.MemoryKernel = readUint(filepath.Join(dir, "memory.kmem.usage_in_bytes"))
		d.MemoryFailcnt = readUint(filepath.Join(dir, "memory.failcnt"))
		d.MemoryOomKills = readKV(filepath.Join(dir, "memory.oom_control"))["oom_kill"]
		d.MemoryReservation = limitV1(readUint(filepath.Join(dir, "memory.soft_limit_in_bytes")))
		d.MemorySwapLimit = limitV1(readUint(filepath.Join(dir, "memory.memsw.limit_in_bytes")))
	}
	if dir, ok := cg.v1["blkio"]; ok {
		devs := map[[2]uint32]*shimv1.BlockDeviceIO{}
		blkioDevicesV1(filepath.Join(dir, "blkio.throttle.io_service_bytes"), devs, func(io *shimv1.BlockDeviceIO, op string, n uint64) {
			switch op {
			case "Read":
				io.ReadBytes = n
			case "Write":
				io.WriteBytes = n
			}
		})
		blkioDevicesV1(filepath.Join(dir, "blkio.throttle.io_serviced"), devs, func(io *shimv1.BlockDeviceIO, op string, n uint64) {
			switch op {
			case "Read":
				io.Reads = n
			case "Write":
				io.Writes = n
			}
		})
		d.BlockIo = sortedDevices(devs)
	}
	return d
}

func limitV1(n uint64) uint64 {
	if n >= noLimit {
		return 0
	}
	return n
}

// blkioDevicesV1 reads "MAJ:MIN Op N" lines into devs.
func blkioDevicesV1(path string, devs map[[2]uint32]*shimv1.BlockDeviceIO, set func(*shimv1.BlockDeviceIO, string, uint64)) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue // the "Total N" line
		}
		var maj, min uint32
		if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		set(device(devs, maj, min), f[1], n)
	}
}

func device(devs map[[2]uint32]*shimv1.BlockDeviceIO, maj, min uint32) *shimv1.BlockDeviceIO {
	k := [2]uint32{maj, min}
	if devs[k] == nil {
		devs[k] = &shimv1.BlockDeviceIO{Major: maj, Minor: min}
	}
	return devs[k]
}

func sortedDevices(devs map[[2]uint32]*shimv1.BlockDeviceIO) []*shimv1.BlockDeviceIO {
	out := make([]*shimv1.BlockDeviceIO, 0, len(devs))
	for _, d := range devs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Major < out[j].Major || out[i].Major == out[j].Major && out[i].Minor < out[j].Minor
	})
	return out
}

func (cg *Cgroup) detailV2() *shimv1.StatsDetail {
	dir := cg.unified
	d := &shimv1.StatsDetail{}
	st := readKV(filepath.Join(dir, "cpu.stat"))
	d.CpuPeriods, d.CpuThrottledPeriods, d.CpuThrottledNs = st["nr_periods"], st["nr_throttled"], st["throttled_usec"]*1000
	if w := readUint(filepath.Join(dir, "cpu.weight")); w > 0 {
		d.CpuShares = 2 + (w-1)*262142/9999 // the inverse of runc's shares-to-weight
	}
	if f := strings.Fields(readString(filepath.Join(dir, "cpu.max"))); len(f) == 2 {
		d.CpuQuotaUs, _ = strconv.ParseUint(f[0], 10, 64) // "max" does not parse: 0
		d.CpuPeriodUs, _ = strconv.ParseUint(f[1], 10, 64)
	}
	ms := readKV(filepath.Join(dir, "memory.stat"))
	d.MemoryRss, d.MemoryMappedFile = ms["anon"], ms["file_mapped"]
	d.MemoryActiveFile, d.MemoryInactiveFile = ms["active_file"], ms["inactive_file"]
	// v2's counters are hierarchical only.
	d.MemoryPgfault, d.MemoryPgmajfault = ms["pgfault"], ms["pgmajfault"]
	d.MemoryHierarchyPgfault, d.MemoryHierarchyPgmajfault = ms["pgfault"], ms["pgmajfault"]
	d.MemoryKernel = ms["kernel"]
	if d.MemoryKernel == 0 {
		d.MemoryKernel = ms["kernel_stack"] + ms["slab"] + ms["sock"] + ms["percpu"]
	}
	d.MemorySwap = readUint(filepath.Join(dir, "memory.swap.current"))
	d.MemoryOomKills = readKV(filepath.Join(dir, "memory.events"))["oom_kill"]
	d.MemoryReservation = readUint(filepath.Join(dir, "memory.low"))
	d.MemorySwapLimit = readUint(filepath.Join(dir, "memory.swap.max"))
	devs := map[[2]uint32]*shimv1.BlockDeviceIO{}
	if b, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			var maj, min uint32
			if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
				continue
			}
			io := device(devs, maj, min)
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					io.ReadBytes = n
				case "wbytes":
					io.WriteBytes = n
				case "rios":
					io.Reads = n
				case "wios":
					io.Writes = n
				}
			}
		}
	}
	d.BlockIo = sortedDevices(devs)
	return d
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// procCounts reads a process's thread count (the Threads line of its
// status) and its open files, of which sockets; a process gone meanwhile
// counts nothing.
func procCounts(pid uint32) (threads, fds, sockets uint64) {
	base := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	if f, err := os.Open(base + "/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
				threads, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				break
			}
		}
		f.Close()
	}
	ents, err := os.ReadDir(base + "/fd")
	if err != nil {
		return threads, 0, 0
	}
	for _, e := range ents {
		fds++
		if l, err := os.Readlink(base + "/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			sockets++
		}
	}
	return threads, fds, sockets
}
