package containers_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

func storedResources(t *testing.T, sup *containerstest.Supervisor, id string) *specs.LinuxResources {
	t.Helper()
	b, err := sup.ContainerSpec(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.Linux.Resources
}

func newUpdateDaemon(t *testing.T, hc *container.HostConfig, start bool) (*containers.Daemon, *containerstest.Supervisor, string) {
	t.Helper()
	sup := containerstest.New()
	ctx := context.Background()
	d, err := containers.New(ctx, sup, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if err := d.Start(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	return d, sup, c.ID
}

func TestUpdateRunning(t *testing.T) {
	pids := int64(100)
	d, sup, id := newUpdateDaemon(t, &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, PidsLimit: &pids}}, true)
	ctx := context.Background()
	past, evs, cancel := d.SubscribeEvents()
	defer cancel()
	_ = past
	newPids := int64(20)
	resp, err := d.Update(ctx, id, container.UpdateConfig{
		Resources:     container.Resources{Memory: 32 << 20, PidsLimit: &newPids},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Warnings == nil || len(resp.Warnings) != 0 {
		t.Errorf("warnings %#v, want []", resp.Warnings)
	}
	live := sup.TaskResources(id)
	if live == nil || *live.Memory.Limit != 32<<20 || *live.Memory.Swap != 128<<20 || *live.Pids.Limit != 20 {
		t.Fatalf("live limits %+v", live)
	}
	if len(live.Devices) != 0 {
		t.Error("device rules sent to the running task")
	}
	st := storedResources(t, sup, id)
	if *st.Memory.Limit != 32<<20 || *st.Pids.Limit != 20 || len(st.Devices) == 0 {
		t.Errorf("stored spec resources %+v", st)
	}
	c, _ := d.Get(id)
	if c.HostConfig.Memory != 32<<20 || c.HostConfig.MemorySwap != 128<<20 || *c.HostConfig.PidsLimit != 20 ||
		c.HostConfig.RestartPolicy.Name != container.RestartPolicyAlways {
		t.Errorf("HostConfig %+v", c.HostConfig)
	}
	select {
	case ev := <-evs:
		if ev.Action != events.ActionUpdate || ev.Actor.ID != id {
			t.Errorf("event %+v", ev)
		}
	default:
		t.Error("no update event")
	}
	// Lifting the pids limit says so explicitly to the running task.
	unlimited := int64(-1)
	if _, err := d.Update(ctx, id, container.UpdateConfig{Resources: container.Resources{PidsLimit: &unlimited}}); err != nil {
		t.Fatal(err)
	}
	if live := sup.TaskResources(id); *live.Pids.Limit != -1 {
		t.Errorf("pids after -1: %d", *live.Pids.Limit)
	}
	if c, _ := d.Get(id); *c.HostConfig.PidsLimit != 0 {
		t.Errorf("stored pids limit %d, want 0 as dockerd", *c.HostConfig.PidsLimit)
	}
}

// A stopped container gets only the stored change.
func TestUpdateCreated(t *testing.T) {
	d, sup, id := newUpdateDaemon(t, &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1}}, false)
	if _, err := d.Update(context.Background(), id, container.UpdateConfig{Resources: container.Resources{Memory: 128 << 20, CPUShares: 512}}); err != nil {
		t.Fatal(err)
	}
	st := storedResources(t, sup, id)
	if *st.Memory.Limit != 128<<20 || *st.Memory.Swap != -1 || *st.CPU.Shares != 512 {
		t.Errorf("stored %+v %+v", st.Memory, st.CPU)
	}
}

func TestUpdateRefused(t *testing.T) {
	pids := int64(100)
	ctx := context.Background()
	i64 := func(v int64) *int64 { return &v }
	yes := true
	for _, c := range []struct {
		name   string
		hc     container.HostConfig
		upd    container.UpdateConfig
		class  func(error) bool
		substr string
	}{
		{"min memory", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Memory: 4 << 20}}, errdefs.IsInvalidArgument, "Minimum memory limit allowed is 6MB"},
		{"swap below memory", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: 32 << 20}}, errdefs.IsInvalidArgument, "Minimum memoryswap limit should be larger than memory limit"},
		{"memory above swap", container.HostConfig{Resources: container.Resources{Memory: 16 << 20, MemorySwap: 32 << 20}}, container.UpdateConfig{Resources: container.Resources{Memory: 64 << 20}}, errdefs.IsConflict, "Memory limit should be smaller than already set memoryswap limit"},
		{"no memory yet", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Memory: 64 << 20}}, errdefs.IsConflict, "update the memoryswap at the same time"},
		{"reservation", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1, MemoryReservation: 128 << 20}}, errdefs.IsInvalidArgument, "can not be less than memory reservation"},
		{"cpus", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{NanoCPUs: 1e15}}, errdefs.IsInvalidArgument, "of CPUs is from 0.01 to"},
		{"period", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{CPUPeriod: 10}}, errdefs.IsInvalidArgument, "CPU cfs period can not be less than 1ms"},
		{"nano after quota", container.HostConfig{Resources: container.Resources{CPUQuota: 50000}}, container.UpdateConfig{Resources: container.Resources{NanoCPUs: 5e8}}, errdefs.IsConflict, "Nano CPUs cannot be updated as CPU Quota has already been set"},
		{"blkio", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{BlkioWeight: 5}}, errdefs.IsInvalidArgument, "Range of blkio weight is from 10 to 1000"},
		{"cpuset", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{CpusetCpus: "1-0"}}, errdefs.IsInvalidArgument, "Invalid value 1-0 for cpuset cpus"},
		{"cpuset absent", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{CpusetCpus: "4095"}}, errdefs.IsInvalidArgument, "Requested CPUs are not available"},
		{"devices", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null"}}}}, errdefs.IsInvalidArgument, "Devices cannot be updated"},
		{"ulimits", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1, Hard: 1}}}}, errdefs.IsInvalidArgument, "Ulimits cannot be updated"},
		{"oom", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{OomKillDisable: &yes}}, errdefs.IsInvalidArgument, "OomKillDisable cannot be updated"},
		{"swappiness", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{MemorySwappiness: i64(10)}}, errdefs.IsInvalidArgument, "MemorySwappiness cannot be updated"},
		{"io max", container.HostConfig{}, container.UpdateConfig{Resources: container.Resources{IOMaximumIOps: 5}}, errdefs.IsInvalidArgument, "IOMaximumIOps"},
		{"policy", container.HostConfig{}, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 3}}, errdefs.IsInvalidArgument, "maximum retry count can only be used with 'on-failure'"},
		{"policy count", container.HostConfig{}, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}}, errdefs.IsInvalidArgument, "maximum retry count cannot be negative"},
		{"autoremove", container.HostConfig{AutoRemove: true}, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}, errdefs.IsConflict, "Restart policy cannot be updated because AutoRemove is enabled for the container"},
		{"no such", container.HostConfig{}, container.UpdateConfig{}, errdefs.IsNotFound, "No such container: nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hc := c.hc
			hc.PidsLimit = &pids
			d, sup, id := newUpdateDaemon(t, &hc, true)
			before := storedResources(t, sup, id)
			ref := id
			if c.name == "no such" {
				ref = "nope"
			}
			_, err := d.Update(ctx, ref, c.upd)
			if err == nil || !c.class(err) || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("err %v (%T), want %q", err, err, c.substr)
			}
			if sup.TaskResources(id) != nil {
				t.Error("the task was updated")
			}
			if after := storedResources(t, sup, id); !jsonEqual(before, after) {
				t.Errorf("stored spec changed: %+v", after)
			}
			got, _ := d.Get(id)
			if got.HostConfig.Memory != c.hc.Memory || got.HostConfig.RestartPolicy != c.hc.RestartPolicy {
				t.Errorf("HostConfig changed: %+v", got.HostConfig)
			}
		})
	}
}

// The task refusing the limits leaves the stored spec and HostConfig as
// they were.
func TestUpdateTaskFailureRollsBack(t *testing.T) {
	d, sup, id := newUpdateDaemon(t, &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1}}, true)
	before := storedResources(t, sup, id)
	sup.UpdateErr = errors.New("runtime update: write 8388608 to memory.limit_in_bytes: device or resource busy")
	_, err := d.Update(context.Background(), id, container.UpdateConfig{Resources: container.Resources{Memory: 8 << 20}})
	if err == nil || !strings.Contains(err.Error(), "Cannot update container "+id) || !strings.Contains(err.Error(), "resource busy") {
		t.Fatalf("err %v", err)
	}
	if after := storedResources(t, sup, id); !jsonEqual(before, after) {
		t.Errorf("stored spec changed: %+v", after.Memory)
	}
	if c, _ := d.Get(id); c.HostConfig.Memory != 64<<20 {
		t.Errorf("HostConfig memory %d", c.HostConfig.Memory)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// A paused container is updated live too.
func TestUpdatePaused(t *testing.T) {
	d, sup, id := newUpdateDaemon(t, &container.HostConfig{}, true)
	ctx := context.Background()
	if err := d.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	pids := int64(7)
	if _, err := d.Update(ctx, id, container.UpdateConfig{Resources: container.Resources{PidsLimit: &pids}}); err != nil {
		t.Fatal(err)
	}
	if live := sup.TaskResources(id); live == nil || *live.Pids.Limit != 7 {
		t.Errorf("live limits of the paused task: %+v", live)
	}
}

// Every resource docker update can change is either in the stored spec and
// the live limits afterwards, or refused with 501 naming it and nothing
// changed: never stored and ignored.
func TestUpdateEveryFieldAppliedOrRefused(t *testing.T) {
	pids := int64(20)
	blk := blockDevice(t)
	dev := []*blkiodev.ThrottleDevice{{Path: blk, Rate: 1 << 20}}
	for _, c := range []struct {
		field   string
		res     container.Resources
		applied func(r *specs.LinuxResources) bool
	}{
		{"Memory", container.Resources{Memory: 32 << 20}, func(r *specs.LinuxResources) bool { return r.Memory != nil && *r.Memory.Limit == 32<<20 }},
		{"MemorySwap", container.Resources{MemorySwap: 256 << 20}, func(r *specs.LinuxResources) bool {
			return r.Memory != nil && r.Memory.Swap != nil && *r.Memory.Swap == 256<<20
		}},
		{"MemoryReservation", container.Resources{MemoryReservation: 16 << 20}, func(r *specs.LinuxResources) bool {
			return r.Memory != nil && r.Memory.Reservation != nil && *r.Memory.Reservation == 16<<20
		}},
		{"CpuShares", container.Resources{CPUShares: 512}, func(r *specs.LinuxResources) bool { return r.CPU != nil && r.CPU.Shares != nil && *r.CPU.Shares == 512 }},
		{"NanoCpus", container.Resources{NanoCPUs: 5e8}, func(r *specs.LinuxResources) bool { return r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota == 50000 }},
		{"CpuPeriod", container.Resources{CPUPeriod: 50000}, func(r *specs.LinuxResources) bool {
			return r.CPU != nil && r.CPU.Period != nil && *r.CPU.Period == 50000
		}},
		{"CpuQuota", container.Resources{CPUQuota: 25000}, func(r *specs.LinuxResources) bool { return r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota == 25000 }},
		{"CpuRealtimePeriod", container.Resources{CPURealtimePeriod: 1000000}, func(r *specs.LinuxResources) bool {
			return r.CPU != nil && r.CPU.RealtimePeriod != nil && *r.CPU.RealtimePeriod == 1000000
		}},
		{"CpuRealtimeRuntime", container.Resources{CPURealtimeRuntime: 1000}, func(r *specs.LinuxResources) bool {
			return r.CPU != nil && r.CPU.RealtimeRuntime != nil && *r.CPU.RealtimeRuntime == 1000
		}},
		{"CpusetCpus", container.Resources{CpusetCpus: "0"}, func(r *specs.LinuxResources) bool { return r.CPU != nil && r.CPU.Cpus == "0" }},
		{"CpusetMems", container.Resources{CpusetMems: "0"}, func(r *specs.LinuxResources) bool { return r.CPU != nil && r.CPU.Mems == "0" }},
		{"BlkioWeight", container.Resources{BlkioWeight: 300}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && r.BlockIO.Weight != nil && *r.BlockIO.Weight == 300
		}},
		{"BlkioDeviceReadBps", container.Resources{BlkioDeviceReadBps: dev}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && len(r.BlockIO.ThrottleReadBpsDevice) == 1
		}},
		{"BlkioDeviceWriteBps", container.Resources{BlkioDeviceWriteBps: dev}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && len(r.BlockIO.ThrottleWriteBpsDevice) == 1
		}},
		{"BlkioDeviceReadIOps", container.Resources{BlkioDeviceReadIOps: dev}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && len(r.BlockIO.ThrottleReadIOPSDevice) == 1
		}},
		{"BlkioDeviceWriteIOps", container.Resources{BlkioDeviceWriteIOps: dev}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && len(r.BlockIO.ThrottleWriteIOPSDevice) == 1
		}},
		{"BlkioWeightDevice", container.Resources{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: blk, Weight: 100}}}, func(r *specs.LinuxResources) bool {
			return r.BlockIO != nil && len(r.BlockIO.WeightDevice) == 1
		}},
		{"PidsLimit", container.Resources{PidsLimit: &pids}, func(r *specs.LinuxResources) bool { return r.Pids != nil && *r.Pids.Limit == 20 }},
	} {
		t.Run(c.field, func(t *testing.T) {
			d, sup, id := newUpdateDaemon(t, &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20}}, true)
			before := storedResources(t, sup, id)
			_, err := d.Update(context.Background(), id, container.UpdateConfig{Resources: c.res})
			if err != nil {
				if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), c.field) {
					t.Fatalf("refused with %v, want 501 naming %s", err, c.field)
				}
				if after := storedResources(t, sup, id); !jsonEqual(before, after) || sup.TaskResources(id) != nil {
					t.Error("a refused field changed the spec or the task")
				}
				t.Logf("%s refused: %v", c.field, err)
				return
			}
			if !c.applied(storedResources(t, sup, id)) {
				t.Errorf("%s accepted but not in the stored spec", c.field)
			}
			if live := sup.TaskResources(id); live == nil || !c.applied(live) {
				t.Errorf("%s accepted but not sent to the task: %+v", c.field, live)
			}
		})
	}
}

// blockDevice is a block device node of this host, for the blkio limits
// (set by device path).
func blockDevice(t *testing.T) string {
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			return filepath.Join("/dev", e.Name())
		}
	}
	t.Fatal("no block device in /dev for the blkio limits")
	return ""
}
