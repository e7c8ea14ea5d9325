package oci

import (
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/specdefaults"
)

// securityOpts is HostConfig.SecurityOpt parsed.
type securityOpts struct {
	noNewPrivileges bool
	seccomp         string // "" (the default profile), "unconfined", or a profile's JSON
	unconfinedPaths bool   // systempaths=unconfined
	writableCgroups bool
}

// parseSecurityOpts reads --security-opt values as dockerd does (key=value,
// or the legacy key:value). Labels and AppArmor profiles are refused: this
// host has neither SELinux nor AppArmor, so only the options that ask for
// nothing of them are accepted (label=disable, apparmor=unconfined).
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var o securityOpts
	const field = "HostConfig.SecurityOpt"
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			o.noNewPrivileges = true
			continue
		}
		if opt == "disable" {
			continue // legacy spelling of label=disable
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return o, invalid(field, "invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, invalid(field, "invalid --security-opt 2: %q", opt)
			}
			o.noNewPrivileges = b
		case "seccomp":
			o.seccomp = v
			if v == "builtin" {
				o.seccomp = ""
			}
		case "systempaths":
			if v != "unconfined" {
				return o, invalid(field, "invalid --security-opt 2: %q", opt)
			}
			o.unconfinedPaths = true
		case "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, invalid(field, "invalid --security-opt 2: %q", opt)
			}
			o.writableCgroups = b
		case "label":
			if v != "disable" {
				return o, invalid(field, "SELinux is not enabled on this host: --security-opt %q cannot be applied", opt)
			}
		case "apparmor":
			if v != "unconfined" {
				return o, invalid(field, "AppArmor is not enabled on this host: --security-opt %q cannot be applied", opt)
			}
		default:
			return o, invalid(field, "invalid --security-opt 2: %q", opt)
		}
	}
	return o, nil
}

// applySeccomp sets Docker's default profile, a custom one, or none. The
// profile depends on the capabilities (e.g. CAP_SYS_ADMIN allows mount),
// so the caller sets them first.
func applySeccomp(s *specs.Spec, profile string, privileged bool) error {
	switch {
	case profile == "unconfined":
		return nil
	case privileged && profile == "":
		return nil // dockerd: no seccomp for privileged containers unless one is asked for
	case profile == "":
		p, err := specdefaults.Seccomp(s)
		if err != nil {
			return invalid("HostConfig.SecurityOpt", "%v", err)
		}
		s.Linux.Seccomp = p
	default:
		p, err := specdefaults.LoadSeccomp(profile, s)
		if err != nil {
			return invalid("HostConfig.SecurityOpt", "%v", err)
		}
		s.Linux.Seccomp = p
	}
	return nil
}
