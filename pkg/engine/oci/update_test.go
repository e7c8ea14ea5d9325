package oci

import (
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/specdefaults"
)

func TestUpdatedResources(t *testing.T) {
	cur := &specs.LinuxResources{Devices: specdefaults.DeviceRules()}
	zero := int64(0)
	r, err := UpdatedResources(cur, &container.Resources{Memory: 32 << 20, MemorySwap: -1, PidsLimit: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != -1 {
		t.Errorf("memory %+v", r.Memory)
	}
	if r.Pids == nil || *r.Pids.Limit != -1 {
		t.Errorf("pids %+v: no limit must be said to a running container", r.Pids)
	}
	if !reflect.DeepEqual(r.Devices, cur.Devices) {
		t.Error("device rules not kept")
	}
	r.Devices[0].Access = "changed"
	if cur.Devices[0].Access == "changed" {
		t.Error("device rules shared with the current resources")
	}
	// create's errors are the update's.
	if _, err := UpdatedResources(cur, &container.Resources{BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/null", Rate: 1}}}); err == nil {
		t.Error("a throttle on a character device accepted")
	}
}

func TestUnappliedResources(t *testing.T) {
	u64 := func(v uint64) *uint64 { return &v }
	i64 := func(v int64) *int64 { return &v }
	upd := &container.Resources{Memory: 1, CPUShares: 2, CpusetCpus: "0", PidsLimit: i64(3)}
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1)}, CPU: &specs.LinuxCPU{Shares: u64(2)}}
	if got := UnappliedResources(upd, r); !reflect.DeepEqual(got, []string{"CpusetCpus", "PidsLimit"}) {
		t.Errorf("unapplied %q", got)
	}
	if got := UnappliedResources(&container.Resources{}, &specs.LinuxResources{}); len(got) != 0 {
		t.Errorf("empty update: %q", got)
	}
}
