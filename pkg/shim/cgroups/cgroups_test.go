package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMetricsV1(t *testing.T) {
	d := t.TempDir()
	w := func(name, content string) {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("cpuacct.usage", "123456789\n")
	w("cpuacct.stat", "user 10\nsystem 5\n")
	w("cpuacct.usage_percpu", "100 200 \n")
	w("memory.usage_in_bytes", "4096\n")
	w("memory.limit_in_bytes", "9223372036854771712\n")
	w("memory.max_usage_in_bytes", "8192\n")
	w("memory.stat", "cache 1024\nrss 2048\ntotal_cache 99\n")
	w("pids.current", "3\n")
	w("pids.max", "max\n")
	w("blkio.throttle.io_service_bytes", "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\n8:16 Read 1\nTotal 31\n")
	cg := &Cgroup{v1: map[string]string{"cpuacct": d, "memory": d, "pids": d, "blkio": d}}
	m := cg.Stats()
	if m.CpuUsageNs != 123456789 || m.CpuUserNs != 100_000_000 || m.CpuSystemNs != 50_000_000 || len(m.CpuPercpuNs) != 2 {
		t.Errorf("cpu %+v", m)
	}
	if m.MemoryUsage != 4096 || m.MemoryLimit != 0 || m.MemoryMaxUsage != 8192 || m.MemoryCache != 1024 {
		t.Errorf("memory %+v", m)
	}
	if m.PidsCurrent != 3 || m.PidsLimit != 0 || m.IoReadBytes != 11 || m.IoWriteBytes != 20 {
		t.Errorf("pids/io %+v", m)
	}
}

func TestCgroupMetricsV2(t *testing.T) {
	d := t.TempDir()
	w := func(name, content string) {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("cpu.stat", "usage_usec 7\nuser_usec 4\nsystem_usec 3\n")
	w("memory.current", "4096\n")
	w("memory.max", "16777216\n")
	w("memory.stat", "anon 1\nfile 512\n")
	w("pids.current", "2\n")
	w("pids.max", "100\n")
	w("io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
	m := (&Cgroup{unified: d}).Stats()
	if m.CpuUsageNs != 7000 || m.CpuUserNs != 4000 || m.CpuSystemNs != 3000 {
		t.Errorf("cpu %+v", m)
	}
	if m.MemoryUsage != 4096 || m.MemoryLimit != 16<<20 || m.MemoryCache != 512 || m.PidsLimit != 100 || m.IoReadBytes != 101 || m.IoWriteBytes != 202 {
		t.Errorf("%+v", m)
	}
}
