package container

import specs "github.com/opencontainers/runtime-spec/specs-go"

// initSpec is the part of the spec that the container's init uses, sent to
// it instead of the whole specs.Spec because of what decoding costs in a
// fresh process: encoding/json builds, on first use of a struct type, the
// encoders of every type reachable from it, and specs.Spec reaches about a
// hundred (Windows, VM, the cgroup resources, ...). Decoding a Spec took
// 0.6-0.9 ms of init's start against 30 us once warm (docs/performance.md,
// "JSON in short-lived processes"). A field init starts to use must be added
// here and in newInitSpec; TestInitSpecCarriesWhatInitUses checks the round
// trip.
type initSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *initHooks        `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *initLinux        `json:"linux,omitempty"`
}

// initHooks are the hooks init runs itself, in the container.
type initHooks struct {
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	StartContainer  []specs.Hook `json:"startContainer,omitempty"`
}

type initLinux struct {
	UIDMappings       []specs.LinuxIDMapping           `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping           `json:"gidMappings,omitempty"`
	Sysctl            map[string]string                `json:"sysctl,omitempty"`
	Namespaces        []specs.LinuxNamespace           `json:"namespaces,omitempty"`
	TimeOffsets       map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`
	Devices           []specs.LinuxDevice              `json:"devices,omitempty"`
	RootfsPropagation string                           `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                         `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                         `json:"readonlyPaths,omitempty"`
	MountLabel        string                           `json:"mountLabel,omitempty"`
}

func newInitSpec(s *specs.Spec) *initSpec {
	is := &initSpec{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname, Domainname: s.Domainname,
		Mounts: s.Mounts, Annotations: s.Annotations,
	}
	if h := s.Hooks; h != nil && (len(h.CreateContainer) > 0 || len(h.StartContainer) > 0) {
		is.Hooks = &initHooks{CreateContainer: h.CreateContainer, StartContainer: h.StartContainer}
	}
	if l := s.Linux; l != nil {
		is.Linux = &initLinux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, Namespaces: l.Namespaces,
			TimeOffsets: l.TimeOffsets, Devices: l.Devices, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
		}
	}
	return is
}

// spec is the specs.Spec init works on: what newInitSpec kept.
func (is *initSpec) spec() *specs.Spec {
	s := &specs.Spec{
		Version: is.Version, Process: is.Process, Root: is.Root, Hostname: is.Hostname, Domainname: is.Domainname,
		Mounts: is.Mounts, Annotations: is.Annotations, Linux: &specs.Linux{},
	}
	if h := is.Hooks; h != nil {
		s.Hooks = &specs.Hooks{CreateContainer: h.CreateContainer, StartContainer: h.StartContainer}
	}
	if l := is.Linux; l != nil {
		s.Linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, Namespaces: l.Namespaces,
			TimeOffsets: l.TimeOffsets, Devices: l.Devices, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
		}
	}
	return s
}
