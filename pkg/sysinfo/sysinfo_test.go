package sysinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func fakeHost(t *testing.T, files map[string]string) paths {
	t.Helper()
	root := t.TempDir()
	for rel, data := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths{proc: filepath.Join(root, "proc"), cgroup: filepath.Join(root, "cgroup"), osRelease: filepath.Join(root, "os-release")}
}

func TestReadCgroupV1(t *testing.T) {
	p := fakeHost(t, map[string]string{
		"proc/meminfo":                        "MemTotal:        2048 kB\nMemFree: 1 kB\n",
		"os-release":                          "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_ID=\"13\"\n",
		"cgroup/memory/memory.limit_in_bytes": "",
		"cgroup/memory/memory.oom_control":    "",
		"cgroup/cpu/cpu.shares":               "",
		"cgroup/cpu/cpu.cfs_quota_us":         "",
		"cgroup/pids/tasks":                   "",
	})
	h := p.read()
	want := Cgroups{Memory: true, CPUShares: true, CPUCfsQuota: true, Pids: true, OOMKillDisable: true}
	if h.CgroupVersion != "1" || h.Cgroups != want || h.MemTotal != 2048*1024 ||
		h.OperatingSystem != "Debian GNU/Linux 13 (trixie)" || h.OSVersion != "13" || h.NCPU < 1 || h.KernelVersion == "" {
		t.Errorf("got %+v", h)
	}
}

func TestReadCgroupV2(t *testing.T) {
	p := fakeHost(t, map[string]string{"cgroup/cgroup.controllers": "cpuset cpu io pids\n"})
	h := p.read()
	want := Cgroups{CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, Cpuset: true, Pids: true}
	if h.CgroupVersion != "2" || h.Cgroups != want || h.MemTotal != 0 || h.OperatingSystem != "Linux" {
		t.Errorf("got %+v", h)
	}
}

func TestSystemCPUNs(t *testing.T) {
	p := fakeHost(t, map[string]string{"proc/stat": "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n"})
	n, err := p.systemCPUNs()
	if err != nil || n != 28*1e7 {
		t.Errorf("got %d, %v; want %d", n, err, uint64(28*1e7))
	}
	if _, err := fakeHost(t, map[string]string{"proc/stat": "cpu  1 2 x 4 5 6 7\n"}).systemCPUNs(); err == nil {
		t.Error("a bad number was accepted")
	}
	if _, err := fakeHost(t, nil).systemCPUNs(); err == nil {
		t.Error("a missing /proc/stat was accepted")
	}
	if n, err := SystemCPUNs(); err != nil || n == 0 {
		t.Errorf("host: %d, %v", n, err)
	}
}
