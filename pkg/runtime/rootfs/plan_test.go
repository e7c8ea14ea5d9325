package rootfs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/runtime/initplan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var opNames = map[initplan.Code]string{
	initplan.Mount: "mount", initplan.PrivateParent: "private-parent", initplan.SetRoot: "set-root",
	initplan.MkTarget: "mktarget", initplan.Mknod: "mknod", initplan.Symlink: "symlink", initplan.MkdirAll: "mkdir",
	initplan.SetAttr: "setattr", initplan.Remount: "remount", initplan.Ptmx: "ptmx", initplan.Pivot: "pivot",
	initplan.Chroot: "chroot", initplan.ReadonlyPath: "readonly", initplan.MaskPath: "mask",
	initplan.RootReadonly: "root-ro", initplan.HookSync: "hooksync",
}

// render is the plan one op per line: name, flags, arguments.
func render(p *initplan.Plan) []string {
	var out []string
	for _, op := range p.Ops {
		s := opNames[op.Code]
		if s == "" {
			s = fmt.Sprint("op", op.Code)
		}
		if op.Flags&initplan.InRoot != 0 {
			s += " in-root"
		}
		if op.Flags&initplan.OrElse != 0 {
			s += fmt.Sprintf(" or-else-%d", op.Flags>>8)
		}
		if op.Flags&initplan.BestEffort != 0 {
			s += " best-effort"
		}
		for _, a := range op.Args {
			s += fmt.Sprintf(" %v", a)
		}
		out = append(out, s)
	}
	return out
}

func TestPlanDefaultContainer(t *testing.T) {
	src := t.TempDir()
	spec := &specs.Spec{
		Process: &specs.Process{Cwd: "/work"},
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "ro"}},
			{Destination: "/data/", Type: "bind", Source: src, Options: []string{"rbind", "ro", "rro", "rprivate"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}},
		},
		Linux: &specs.Linux{
			Devices:       []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
		},
	}
	hooked := false
	o := Options{Rootfs: "/r", CgroupPaths: map[string]string{"memory": "/sys/fs/cgroup/memory/c", "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c"},
		BeforePivot: func(p *initplan.Plan) error { hooked = true; p.Add(initplan.HookSync, 0); return nil }}
	var p initplan.Plan
	if err := Plan(&p, spec, o); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(render(&p), "\n")
	ro, nosuid := unix.MS_RDONLY, unix.MS_NOSUID
	want := strings.Join([]string{
		fmt.Sprintf("mount  /  %d  mount propagation /", unix.MS_SLAVE|unix.MS_REC),
		"private-parent /r",
		fmt.Sprintf("mount /r /r  %d  bind mount rootfs /r", unix.MS_BIND|unix.MS_REC),
		"set-root /r",
		"mktarget in-root /proc 1",
		"mount in-root proc /proc proc 0  mount proc /proc",
		"mktarget in-root /sys 1",
		fmt.Sprintf("mount in-root or-else-2 sysfs /sys sysfs %d  mount sysfs /sys", ro|nosuid),
		fmt.Sprintf("mount in-root /sys /sys  %d  mount sysfs /sys", unix.MS_BIND|unix.MS_REC),
		fmt.Sprintf("remount in-root best-effort /sys %d remount /sys", ro|nosuid),
		"mktarget in-root /data 1",
		fmt.Sprintf("mount in-root %s /data  %d  bind mount %s /data/", src, unix.MS_BIND|unix.MS_REC, src),
		fmt.Sprintf("remount in-root /data %d remount bind /data/", ro),
		fmt.Sprintf("setattr in-root /data %d 0 /data/", unix.MOUNT_ATTR_RDONLY),
		fmt.Sprintf("mount in-root  /data  %d  mount propagation /data/", unix.MS_PRIVATE|unix.MS_REC),
		"mktarget in-root /sys/fs/cgroup 1",
		fmt.Sprintf("mount in-root tmpfs /sys/fs/cgroup tmpfs %d mode=755 mount cgroup on /sys/fs/cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC),
		"mkdir in-root /sys/fs/cgroup/cpu,cpuacct 493",
		fmt.Sprintf("mount in-root /sys/fs/cgroup/cpu,cpuacct/c /sys/fs/cgroup/cpu,cpuacct  %d  bind cgroup /sys/fs/cgroup/cpu,cpuacct/c", unix.MS_BIND),
		fmt.Sprintf("remount in-root /sys/fs/cgroup/cpu,cpuacct %d remount cgroup /sys/fs/cgroup/cpu,cpuacct/c", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro),
		"symlink in-root best-effort cpu,cpuacct /sys/fs/cgroup/cpu",
		"symlink in-root best-effort cpu,cpuacct /sys/fs/cgroup/cpuacct",
		"mkdir in-root /sys/fs/cgroup/memory 493",
		fmt.Sprintf("mount in-root /sys/fs/cgroup/memory/c /sys/fs/cgroup/memory  %d  bind cgroup /sys/fs/cgroup/memory/c", unix.MS_BIND),
		fmt.Sprintf("remount in-root /sys/fs/cgroup/memory %d remount cgroup /sys/fs/cgroup/memory/c", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro),
		fmt.Sprintf("remount in-root /sys/fs/cgroup %d mount cgroup on /sys/fs/cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro),
		fmt.Sprintf("mknod null %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(1, 3)),
		fmt.Sprintf("mknod zero %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(1, 5)),
		fmt.Sprintf("mknod full %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(1, 7)),
		fmt.Sprintf("mknod random %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(1, 8)),
		fmt.Sprintf("mknod urandom %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(1, 9)),
		fmt.Sprintf("mknod tty %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(5, 0)),
		fmt.Sprintf("mknod fuse %d %d 0 0", unix.S_IFCHR|0o666, unix.Mkdev(10, 229)),
		"symlink in-root /proc/self/fd /dev/fd",
		"symlink in-root /proc/self/fd/0 /dev/stdin",
		"symlink in-root /proc/self/fd/1 /dev/stdout",
		"symlink in-root /proc/self/fd/2 /dev/stderr",
		"symlink in-root /proc/kcore /dev/core",
		"ptmx",
		"mkdir in-root /dev/shm 1023",
		"hooksync",
		"pivot /r 0",
		"mkdir /work 493",
		"readonly /proc/sys",
		"mask /proc/kcore",
		"root-ro",
	}, "\n")
	if got != want {
		t.Errorf("plan\n%s\nwant\n%s", got, want)
	}
	if !hooked {
		t.Error("BeforePivot not called")
	}
}

// In a user namespace devices are bound from the host and mqueue falls
// back to the host's; a cgroup namespace gets its own cgroup2, or the bind.
func TestPlanUserNamespace(t *testing.T) {
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"},
			{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup"},
		},
		Linux: &specs.Linux{RootfsPropagation: "rshared"},
	}
	var p initplan.Plan
	if err := Plan(&p, spec, Options{Rootfs: "/r", UserNS: true, CgroupNS: true, CgroupV2: "/sys/fs/cgroup/c"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(render(&p), "\n")
	for _, want := range []string{
		fmt.Sprintf("mount  /  %d  mount propagation /", unix.MS_SHARED|unix.MS_REC),
		"mount in-root or-else-1 mqueue /dev/mqueue mqueue 0  mount mqueue /dev/mqueue\n" +
			fmt.Sprintf("mount in-root /dev/mqueue /dev/mqueue  %d  mount mqueue /dev/mqueue", unix.MS_BIND),
		"mount in-root or-else-1 cgroup2 /sys/fs/cgroup cgroup2 0  mount cgroup on /sys/fs/cgroup\n" +
			fmt.Sprintf("mount in-root /sys/fs/cgroup/c /sys/fs/cgroup  %d  mount cgroup on /sys/fs/cgroup", unix.MS_BIND),
		"mktarget in-root /dev/null 0\n" + fmt.Sprintf("mount in-root /dev/null /dev/null  %d  bind device /dev/null", unix.MS_BIND),
		fmt.Sprintf("mount  /  %d  rootfsPropagation rshared /", unix.MS_SHARED|unix.MS_REC),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks\n%s\nin\n%s", want, got)
		}
	}
	if strings.Contains(got, "mknod") {
		t.Errorf("mknod in a user namespace:\n%s", got)
	}
}

func TestPlanRefuses(t *testing.T) {
	missing := t.TempDir() + "/nothing"
	for name, c := range map[string]struct {
		spec specs.Spec
		want string
	}{
		"relative destination": {specs.Spec{Mounts: []specs.Mount{{Destination: "proc", Type: "proc"}}}, `mount destination "proc" is not absolute`},
		"missing bind source":  {specs.Spec{Mounts: []specs.Mount{{Destination: "/x", Type: "bind", Source: missing}}}, "bind mount source " + missing},
		"device outside /dev":  {specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/../etc/x", Type: "c"}}}}, "device /dev/../etc/x is outside /dev"},
		"device type":          {specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}}}, `unknown type "z"`},
		"propagation":          {specs.Spec{Linux: &specs.Linux{RootfsPropagation: "sideways"}}, `invalid rootfsPropagation "sideways"`},
	} {
		var p initplan.Plan
		err := Plan(&p, &c.spec, Options{Rootfs: "/r"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("planning made a file")
	}
}

func TestPlanChroot(t *testing.T) {
	var p initplan.Plan
	if err := PlanChroot(&p, &specs.Spec{Process: &specs.Process{Cwd: "/w"}}, Options{Rootfs: "/r"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(render(&p), "\n"); got != "chroot /r\nmkdir /w 493" {
		t.Errorf("plan %q", got)
	}
}
