package cgroups

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSystemdPath(t *testing.T) {
	for _, c := range []struct {
		path, unit, slice, err string
	}{
		{"", "berth-c1.scope", "", ""},
		{"system.slice:docker:c1", "docker-c1.scope", "system.slice", ""},
		{"machine-test.slice:x:y", "x-y.scope", "machine-test.slice", ""},
		{":berth:c1", "berth-c1.scope", "", ""},
		{"system.slice:berth:my.slice", "my.slice", "system.slice", ""},
		{"berth/c1", "", "", "must be slice:prefix:name"},
		{"a:b", "", "", "must be slice:prefix:name"},
		{"system.slice:berth:", "", "", "non-empty"},
		{"system.slice:be/rth:c1", "", "", "no '/'"},
		{"notaslice:berth:c1", "", "", "invalid slice name"},
		{"a--b.slice:berth:c1", "", "", "invalid slice name"},
	} {
		sd, err := parseSystemdPath(c.path, "c1")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("%q: error %v, want one with %q naming the path", c.path, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.path, err)
			continue
		}
		if sd.Unit() != c.unit || sd.Slice != c.slice {
			t.Errorf("%q: unit %q slice %q, want %q %q", c.path, sd.Unit(), sd.Slice, c.unit, c.slice)
		}
	}
}

// Where systemd is not the init system the driver refuses, saying so.
func TestResolveSystemdWithoutSystemd(t *testing.T) {
	was := systemdRunning
	systemdRunning = func() bool { return false }
	defer func() { systemdRunning = was }()
	_, err := ResolveSystemd("", "c1")
	if !errors.Is(err, ErrNoSystemd) || !strings.Contains(err.Error(), "systemd is not running") || !strings.Contains(err.Error(), "--systemd-cgroup") {
		t.Fatalf("got %v", err)
	}
}

func TestLibResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	w := uint16(300)
	r, err := libResources(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(0)},
		BlockIO: &specs.LinuxBlockIO{Weight: &w},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != 64<<20 || r.MemorySwap != 128<<20 || r.MemoryReservation != 32<<20 || r.CpuShares != 512 ||
		r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.CpusetCpus != "0" || r.CpusetMems != "0" || r.BlkioWeight != 300 {
		t.Errorf("converted %+v", r)
	}
	// Our writers take a pids limit of 0 as unlimited; systemd's TasksMax would make it 1.
	if r.PidsLimit == nil || *r.PidsLimit != -1 {
		t.Errorf("pids limit 0 converted to %v, want -1 (unlimited)", r.PidsLimit)
	}
	// No device rules: the library must not set any (an empty list denies all).
	if !r.SkipDevices || len(r.Devices) != 0 {
		t.Errorf("no rules: SkipDevices %v, %d rules", r.SkipDevices, len(r.Devices))
	}
	maj := int64(1)
	r, err = libResources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: &maj, Minor: i64(3), Access: "rw"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.SkipDevices || len(r.Devices) != 3 || !r.Devices[0].Allow || r.Devices[1].Allow || !r.Devices[2].Allow || r.Devices[2].Major != 1 {
		t.Errorf("device rules %v (skip %v): want allow-all, the deny, the allow", r.Devices, r.SkipDevices)
	}
	if _, err := libResources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}); err == nil {
		t.Error("a device rule of type x was accepted")
	}
}
