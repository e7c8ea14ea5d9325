package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func writeFiles(t *testing.T, d string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupDetailV1(t *testing.T) {
	d := t.TempDir()
	writeFiles(t, d, map[string]string{
		"cpu.stat":                        "nr_periods 10\nnr_throttled 3\nthrottled_time 2000000000\n",
		"cpu.shares":                      "512\n",
		"cpu.cfs_period_us":               "100000\n",
		"cpu.cfs_quota_us":                "-1\n",
		"memory.stat":                     "rss 1\ntotal_rss 2048\ntotal_mapped_file 64\ntotal_active_file 32\ntotal_inactive_file 16\npgfault 5\npgmajfault 1\ntotal_pgfault 50\ntotal_pgmajfault 10\n",
		"memory.usage_in_bytes":           "4096\n",
		"memory.memsw.usage_in_bytes":     "5120\n",
		"memory.kmem.usage_in_bytes":      "300\n",
		"memory.failcnt":                  "7\n",
		"memory.oom_control":              "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"memory.soft_limit_in_bytes":      "9223372036854771712\n",
		"memory.memsw.limit_in_bytes":     "67108864\n",
		"blkio.throttle.io_service_bytes": "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\n8:16 Read 1\nTotal 31\n",
		"blkio.throttle.io_serviced":      "8:0 Read 2\n8:0 Write 4\n8:16 Read 1\nTotal 7\n",
		"cgroup.procs":                    strconv.Itoa(os.Getpid()) + "\n",
	})
	cg := &Cgroup{v1: map[string]string{"cpu": d, "memory": d, "blkio": d}}
	x := cg.Detail()
	if x.CpuPeriods != 10 || x.CpuThrottledPeriods != 3 || x.CpuThrottledNs != 2e9 || x.CpuShares != 512 || x.CpuPeriodUs != 100000 || x.CpuQuotaUs != 0 {
		t.Errorf("cpu %+v", x)
	}
	if x.MemoryRss != 2048 || x.MemoryMappedFile != 64 || x.MemoryActiveFile != 32 || x.MemoryInactiveFile != 16 || x.MemorySwap != 1024 ||
		x.MemoryKernel != 300 || x.MemoryFailcnt != 7 || x.MemoryOomKills != 2 || x.MemoryReservation != 0 || x.MemorySwapLimit != 64<<20 {
		t.Errorf("memory %+v", x)
	}
	if x.MemoryPgfault != 5 || x.MemoryPgmajfault != 1 || x.MemoryHierarchyPgfault != 50 || x.MemoryHierarchyPgmajfault != 10 {
		t.Errorf("page faults %+v", x)
	}
	if len(x.BlockIo) != 2 || x.BlockIo[0].Minor != 0 || x.BlockIo[0].ReadBytes != 10 || x.BlockIo[0].WriteBytes != 20 ||
		x.BlockIo[0].Reads != 2 || x.BlockIo[0].Writes != 4 || x.BlockIo[1].Minor != 16 || x.BlockIo[1].ReadBytes != 1 || x.BlockIo[1].Reads != 1 {
		t.Errorf("block io %v", x.BlockIo)
	}
	// The test's own process: threads (the Go runtime has several) and
	// open files.
	if x.Processes != 1 || x.Threads < 2 || x.FileDescriptors < 3 {
		t.Errorf("processes %+v", x)
	}
}

func TestCgroupDetailV2(t *testing.T) {
	d := t.TempDir()
	writeFiles(t, d, map[string]string{
		"cpu.stat":            "usage_usec 7\nnr_periods 4\nnr_throttled 1\nthrottled_usec 5\n",
		"cpu.weight":          "100\n",
		"cpu.max":             "20000 100000\n",
		"memory.stat":         "anon 1024\nfile_mapped 8\nactive_file 4\ninactive_file 2\npgfault 9\npgmajfault 3\nkernel 77\n",
		"memory.swap.current": "12\n",
		"memory.events":       "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"memory.low":          "0\n",
		"memory.swap.max":     "max\n",
		"io.stat":             "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n",
	})
	x := (&Cgroup{unified: d}).Detail()
	if x.CpuPeriods != 4 || x.CpuThrottledPeriods != 1 || x.CpuThrottledNs != 5000 || x.CpuShares != 2597 || x.CpuQuotaUs != 20000 || x.CpuPeriodUs != 100000 {
		t.Errorf("cpu %+v", x)
	}
	if x.MemoryRss != 1024 || x.MemoryMappedFile != 8 || x.MemoryInactiveFile != 2 || x.MemoryKernel != 77 || x.MemorySwap != 12 ||
		x.MemoryOomKills != 1 || x.MemorySwapLimit != 0 || x.MemoryPgfault != 9 || x.MemoryHierarchyPgmajfault != 3 {
		t.Errorf("memory %+v", x)
	}
	if len(x.BlockIo) != 1 || x.BlockIo[0].ReadBytes != 100 || x.BlockIo[0].Writes != 2 {
		t.Errorf("io %v", x.BlockIo)
	}
}
