package cgroups_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	lib "github.com/opencontainers/cgroups"
	libmanager "github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime/cgroups"
)

// The figures behind docs/decisions.md ("Our cgroup writer, runc's device
// filter"): one container's cgroups made, limited and removed by our
// writer and by github.com/opencontainers/cgroups (runc's library), with
// the same limits. Root only; run with
// go test -run '^$' -bench CgroupLifecycle -benchtime 200x ./pkg/runtime/cgroups/
func BenchmarkCgroupLifecycle(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	b.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/berthbench")
		for _, d := range append(dirs, "/sys/fs/cgroup/berthbench") {
			os.Remove(d)
		}
	})
	limit, swap, pids, shares, quota, period := int64(64<<20), int64(64<<20), int64(100), uint64(512), int64(50000), uint64(100000)
	b.Run("berth", func(b *testing.B) {
		res := &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap},
			Pids:   &specs.LinuxPids{Limit: &pids},
			CPU:    &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period},
		}
		for i := 0; i < b.N; i++ {
			id := fmt.Sprintf("b%d", i)
			m, err := cgroups.Resolve("/berthbench/"+id, id)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Create(res); err != nil {
				b.Fatal(err)
			}
			if err := m.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("opencontainers-cgroups", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cg := &lib.Cgroup{Path: fmt.Sprintf("/berthbench/l%d", i), Resources: &lib.Resources{
				Memory: limit, MemorySwap: swap, PidsLimit: &pids,
				CpuShares: shares, CpuQuota: quota, CpuPeriod: period,
				SkipDevices: true,
			}}
			m, err := libmanager.New(cg)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Apply(-1); err != nil {
				b.Fatal(err)
			}
			if err := m.Set(cg.Resources); err != nil {
				b.Fatal(err)
			}
			if err := m.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
