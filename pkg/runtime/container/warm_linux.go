package container

import (
	"encoding/json"
	"errors"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime/cgroups"
	"github.com/berthd/berth/pkg/runtime/seccomp"
)

var warmCreateOnce sync.Once

// WarmCreate does, once per process and with no effect outside it, the
// pure steps of a create on a spec like Docker's: the decode of its
// config.json, the compiled filter's encoding and decoding, the cgroups'
// resolution, init's plan and its encoding, the state's encoding. A
// process that runs one create of its own (the shim) pays each step's
// first run in it (the code and data pages it touches for the first time,
// a fault each, and the heap it grows): about 2 ms of its create where
// the same steps warm take a few tenths. A spare shim does it while it
// waits for its container. Not for the command line, whose create would
// wait for it.
func WarmCreate() {
	warmCreateOnce.Do(func() { _ = warmCreate() })
}

// warmCreate is WarmCreate's work; its error says which step could not be
// done (a test's business: the warm-up only loses its gain).
func warmCreate() error {
	Warm()
	b, err := json.Marshal(warmSpec())
	if err != nil {
		return err
	}
	var rs rawSeccompSpec
	if err := json.Unmarshal(b, &rs); err != nil {
		return err
	}
	if rs.Linux == nil {
		return errors.New("no linux section")
	}
	spec := rs.Spec
	spec.Linux = &rs.Linux.Linux
	var c specs.LinuxSeccomp
	if err := json.Unmarshal(rs.Linux.Seccomp, &c); err != nil {
		return err
	}
	f, err := seccomp.Compile(&c)
	if err != nil {
		return err
	}
	enc, err := newCompiledSeccomp(&c, f).encode()
	if err != nil {
		return err
	}
	sc, err := decodeCompiled(enc)
	if err != nil {
		return err
	}
	cg, err := cgroups.Resolve(spec.Linux.CgroupsPath, "warm")
	if err != nil {
		return err
	}
	plan, err := initPlan(&spec, initPlanArgs{ID: "warm", Bundle: "/warm", Rootfs: "/warm/rootfs",
		Seccomp: sc, Cgroups: cg, FdBase: 5, HostPid: 1, Trace: true})
	if err != nil {
		return err
	}
	if _, err := plan.Encode(); err != nil {
		return err
	}
	st := &State{State: specs.State{Version: specs.Version, ID: "warm", Status: Creating, Pid: 1,
		Bundle: "/warm", Annotations: spec.Annotations}, Rootfs: "/warm/rootfs", Cgroups: cg, Hooks: spec.Hooks}
	if b, err = json.Marshal(st); err != nil {
		return err
	}
	var back State
	return json.Unmarshal(b, &back)
}

// warmSpec is a spec of the shape engined makes for `docker run`: its
// namespaces, mounts, masked and read-only paths, device rules, limits
// and a seccomp profile with arguments.
func warmSpec() *specs.Spec {
	mem, pids, shares := int64(64<<20), int64(100), uint64(512)
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{10}},
			Args: []string{"sh", "-c", "true"}, Env: []string{"PATH=/usr/bin:/bin", "HOSTNAME=warm"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_CHOWN", "CAP_KILL"},
				Permitted: []string{"CAP_CHOWN", "CAP_KILL"}},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "warm",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
			{Destination: "/etc/hosts", Type: "bind", Source: "/etc/hosts", Options: []string{"rbind", "rprivate"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "berth/warm",
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace, Path: "/warm/netns"}},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: int64Ptr(1), Minor: int64Ptr(3), Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}, CPU: &specs.LinuxCPU{Shares: &shares},
			},
			Sysctl:        map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/sys"},
			Seccomp: &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read", "write", "openat", "close", "execve", "exit_group"}, Action: specs.ActAllow},
					{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
				},
			},
		},
	}
}

func int64Ptr(v int64) *int64 { return &v }
