package cgroups

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	ocgroups "github.com/opencontainers/cgroups"
	sdcgroups "github.com/opencontainers/cgroups/systemd"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// systemdRunning is the library's sd_booted check; a variable so the
// refusal is tested on hosts where systemd does run.
var systemdRunning = sdcgroups.IsRunningSystemd

// ErrNoSystemd is the refusal of the systemd driver where systemd is not
// the init system (sd_booted(3): no /run/systemd/system).
var ErrNoSystemd = errors.New("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system): drop the flag; cgroups are then made in cgroupfs, below the caller's cgroup")

// Systemd is where the systemd driver put a container, with runc's
// semantics: a transient unit (a scope, or a slice when the name ends in
// ".slice") that systemd made over D-Bus with the container's init in it,
// named "<prefix>-<name>.scope" in <slice>.
type Systemd struct {
	Slice  string `json:"slice,omitempty"` // "" is system.slice
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
	// Paths are the unit's directory per subsystem as runc's library names
	// them: the hierarchies systemd manages, "name=systemd", "" for the
	// unified one of a hybrid host, and those systemd leaves alone
	// (freezer, cpuset...) which the library joins through cgroupfs.
	Paths map[string]string `json:"paths,omitempty"`
}

// Unit is the unit's name.
func (s *Systemd) Unit() string {
	if strings.HasSuffix(s.Name, ".slice") {
		return s.Name
	}
	return s.Prefix + "-" + s.Name + ".scope"
}

// ResolveSystemd computes the cgroups of container id under systemd.
// cgroupsPath is runc's "slice:prefix:name"; "" means
// "system.slice:berth:<id>". The unit does not exist until ApplyInit.
func ResolveSystemd(cgroupsPath, id string) (*Manager, error) {
	if !systemdRunning() {
		return nil, ErrNoSystemd
	}
	sd, err := parseSystemdPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	m := &Manager{Systemd: sd}
	lib, err := m.systemdLib()
	if err != nil {
		return nil, err
	}
	if IsV2() {
		m.V2 = lib.Path("")
		return m, nil
	}
	sd.Paths = lib.GetPaths()
	m.V1 = map[string]string{}
	for sub, p := range sd.Paths {
		if sub == "" || strings.HasPrefix(sub, "name=") {
			continue // no resources there; joined through Paths
		}
		// Key by the hierarchy's directory ("cpu,cpuacct"), as Resolve does.
		key := sub
		if rel, err := filepath.Rel(Root, p); err == nil && !strings.HasPrefix(rel, "..") {
			key, _, _ = strings.Cut(rel, "/")
		}
		m.V1[key] = p
	}
	return m, nil
}

// parseSystemdPath reads runc's "slice:prefix:name".
func parseSystemdPath(cgroupsPath, id string) (*Systemd, error) {
	sd := &Systemd{Prefix: "berth", Name: id}
	if cgroupsPath != "" {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("cgroupsPath %q: with --systemd-cgroup it must be slice:prefix:name (such as system.slice:berth:%s)", cgroupsPath, id)
		}
		sd.Slice, sd.Prefix, sd.Name = parts[0], parts[1], parts[2]
	}
	if sd.Name == "" || strings.ContainsRune(sd.Prefix+sd.Name, '/') {
		return nil, fmt.Errorf("cgroupsPath %q: the unit name part must be non-empty and hold no '/'", cgroupsPath)
	}
	if sd.Slice != "" {
		if _, err := sdcgroups.ExpandSlice(sd.Slice); err != nil {
			return nil, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
		}
	}
	return sd, nil
}

// systemdLib is runc's manager of the unit: it starts the unit with its
// first pid, sets the resources systemd has properties for, and stops the
// unit. It talks to systemd through the system bus, or systemd's private
// socket (/run/systemd/private) when there is no bus.
func (m *Manager) systemdLib() (ocgroups.Manager, error) {
	if m.lib != nil {
		return m.lib, nil
	}
	routeLibraryLog()
	sd := m.Systemd
	c := &ocgroups.Cgroup{Name: sd.Name, Parent: sd.Slice, ScopePrefix: sd.Prefix, Systemd: true,
		// No limits when the unit starts: they are set once init is ready
		// (see Set), and an empty device list would deny every device.
		Resources: &ocgroups.Resources{SkipDevices: true}}
	var err error
	if IsV2() {
		m.lib, err = sdcgroups.NewUnifiedManager(c, m.V2)
	} else {
		m.lib, err = sdcgroups.NewLegacyManager(c, sd.Paths)
	}
	if err != nil {
		return nil, fmt.Errorf("systemd unit %s: %w", sd.Unit(), err)
	}
	return m.lib, nil
}

// ApplyInit places the container's init: in cgroupfs it is Apply; under
// systemd it starts the unit with pid in it (systemd moves it into the
// hierarchies it manages, the library into the others).
func (m *Manager) ApplyInit(pid int) error {
	if m.Systemd == nil {
		return m.Apply(pid)
	}
	lib, err := m.systemdLib()
	if err != nil {
		return err
	}
	if err := lib.Apply(pid); err != nil {
		return fmt.Errorf("start systemd unit %s: %w", m.Systemd.Unit(), err)
	}
	return nil
}

// setSystemd sets the resources systemd has unit properties for, so that
// systemd does not put its own values back (on a daemon-reload, say); the
// library also writes those to the files, as runc does. Set then writes
// every limit of the spec to the files, the rest included.
func (m *Manager) setSystemd(res *specs.LinuxResources) error {
	lib, err := m.systemdLib()
	if err != nil {
		return err
	}
	r, err := libResources(res)
	if err != nil {
		return err
	}
	if err := lib.Set(r); err != nil {
		return fmt.Errorf("systemd unit %s properties: %w", m.Systemd.Unit(), err)
	}
	return nil
}

// destroySystemd stops the unit (systemd removes its cgroups) and removes
// the directories the library made beside it. A unit that is gone already
// is no error.
func (m *Manager) destroySystemd() error {
	lib, err := m.systemdLib()
	if err != nil {
		return err
	}
	if err := lib.Destroy(); err != nil {
		return fmt.Errorf("stop systemd unit %s: %w", m.Systemd.Unit(), err)
	}
	return nil
}

// systemdDirs are the directories a process joins to be in the unit (exec
// does): every hierarchy's, name=systemd's included, where systemd tracks
// a scope's processes on v1.
func (m *Manager) systemdDirs() []string {
	if m.V2 != "" {
		return []string{m.V2}
	}
	seen := map[string]bool{}
	var d []string
	for _, p := range m.Systemd.Paths {
		if !seen[p] {
			seen[p] = true
			d = append(d, p)
		}
	}
	sort.Strings(d)
	return d
}

// libResources converts what systemd has unit properties for: memory
// (limit, swap, reservation), cpu (shares or weight, quota, period, cpus,
// mems), pids, the block I/O weight and the device rules.
func libResources(res *specs.LinuxResources) (*ocgroups.Resources, error) {
	r := &ocgroups.Resources{SkipDevices: true}
	if res == nil {
		return r, nil
	}
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil {
			r.Memory = *mem.Limit
		}
		if mem.Swap != nil {
			r.MemorySwap = *mem.Swap
		}
		if mem.Reservation != nil {
			r.MemoryReservation = *mem.Reservation
		}
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			r.CpuShares = *c.Shares
			if IsV2() {
				r.CpuWeight = sharesToWeight(*c.Shares) // the value applyV2 writes
			}
		}
		if c.Quota != nil {
			r.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			r.CpuPeriod = *c.Period
		}
		r.CpusetCpus, r.CpusetMems = c.Cpus, c.Mems
	}
	if p := res.Pids; p != nil {
		limit := int64(-1) // unlimited, as applyV1/V2 write "max"
		if p.Limit != nil && *p.Limit > 0 {
			limit = *p.Limit
		}
		r.PidsLimit = &limit
	}
	if b := res.BlockIO; b != nil && b.Weight != nil {
		r.BlkioWeight = *b.Weight
	}
	if len(res.Devices) > 0 {
		rules, err := libRules(res.Devices)
		if err != nil {
			return nil, err
		}
		r.Devices, r.SkipDevices = rules, false
	}
	return r, nil
}

var logRouted bool

// routeLibraryLog sends the library's logrus warnings to Warnf (the
// runtime's log) instead of stderr, which callers read as our output.
func routeLibraryLog() {
	if logRouted {
		return
	}
	logRouted = true
	logrus.SetOutput(io.Discard)
	logrus.AddHook(warnHook{})
}

type warnHook struct{}

func (warnHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (warnHook) Fire(e *logrus.Entry) error {
	Warnf("systemd: %s", e.Message)
	return nil
}
