package cgroups

import (
	"fmt"

	ocgroups "github.com/opencontainers/cgroups"
	// Registers the eBPF device filter (and v1 emulator) with the library.
	_ "github.com/opencontainers/cgroups/devices"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setDevicesV2 attaches an eBPF device filter to dir built from the spec's
// rules. cgroup v2 has no devices.allow file: without a program a container
// can mknod and open any host device its capabilities allow.
//
// The program is runc's (github.com/opencontainers/cgroups/devices): it runs
// the rules through the v1 emulator first, so v2 behaves exactly as v1 does.
// A new v1 cgroup inherits its parent's rules, "a *:* rwm" below the root;
// the emulator starts from deny-all, so that allow-all goes first to keep the
// two hierarchies alike for a spec that starts with an allow rule.
func setDevicesV2(dir string, rules []specs.LinuxDeviceCgroup) error {
	if len(rules) == 0 {
		return nil
	}
	conv, err := libRules(rules)
	if err != nil {
		return err
	}
	if err := ocgroups.DevicesSetV2(dir, &ocgroups.Resources{Devices: conv}); err != nil {
		return fmt.Errorf("device filter on %s: %w", dir, err)
	}
	return nil
}

// libRules converts the spec's rules for the library (the eBPF program,
// systemd's device properties), allow-all first as explained above.
func libRules(rules []specs.LinuxDeviceCgroup) ([]*devconfig.Rule, error) {
	conv := []*devconfig.Rule{{Type: devconfig.WildcardDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "rwm", Allow: true}}
	for _, d := range rules {
		r, ok, err := libRule(d)
		if err != nil {
			return nil, err
		}
		if ok {
			conv = append(conv, r)
		}
	}
	return conv, nil
}

// libRule converts a spec rule. FIFOs have no device cgroup rule (v1 rejects
// "p", and neither hierarchy controls them), so a "p" rule is dropped.
func libRule(d specs.LinuxDeviceCgroup) (*devconfig.Rule, bool, error) {
	t := d.Type
	if t == "" {
		t = "a"
	}
	if t == "p" {
		return nil, false, nil
	}
	if t != "a" && t != "b" && t != "c" {
		return nil, false, fmt.Errorf("device cgroup rule: invalid type %q", d.Type)
	}
	num := func(p *int64) int64 {
		if p == nil || *p < 0 {
			return devconfig.Wildcard
		}
		return *p
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return &devconfig.Rule{Type: devconfig.Type(t[0]), Major: num(d.Major), Minor: num(d.Minor), Permissions: devconfig.Permissions(access), Allow: d.Allow}, true, nil
}
