package container

import (
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/runtime/initplan"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func codes(p *initplan.Plan) []initplan.Code {
	var out []initplan.Code
	for _, op := range p.Ops {
		out = append(out, op.Code)
	}
	return out
}

func index(p *initplan.Plan, c initplan.Code) int {
	for i, op := range p.Ops {
		if op.Code == c {
			return i
		}
	}
	return -1
}

func testSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"PATH=/bin"}, NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}}},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "h",
		Hooks: &specs.Hooks{
			Prestart:        []specs.Hook{{Path: "/bin/pre"}},
			CreateContainer: []specs.Hook{{Path: "/bin/cc", Args: []string{"cc", "x"}}},
			StartContainer:  []specs.Hook{{Path: "/bin/sc"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}, {Type: specs.CgroupNamespace}},
			Sysctl: map[string]string{"net.b": "2", "net.a": "1"},
		},
	}
}

// The order init carries things out in: joins and sysctls, the rootfs
// with, once init is in its cgroups, its cgroup namespace and the hooks
// before pivot_root, the process's set-up, ready, the exec
// fifo, startContainer hooks, and the filter last with no_new_privs.
// Init waits for its cgroups once, right before the first cgroup mount,
// and makes its cgroup namespace after: the mounts before it are made
// while the parent makes the cgroups. Without a cgroup mount it waits
// before the pivot; without a mount namespace of its own, too. Sysctls
// in a namespace joined by path, which a failing create would leave
// changed, come right after the wait, which stays where it was.
func TestInitPlanAwaitsCgroups(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mounts  []specs.Mount
		chroot  bool
		sysctls bool
	}{
		{"cgroup mount", []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, {Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"}, {Destination: "/run", Type: "tmpfs", Source: "tmpfs"}}, false, false},
		{"none", []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}, false, false},
		{"no mount namespace", nil, true, false},
		{"sysctls in a joined namespace", []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}, false, true},
		{"sysctls in a joined namespace, cgroup mount", []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, {Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"}, {Destination: "/run", Type: "tmpfs", Source: "tmpfs"}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec()
			s.Hooks = nil
			s.Mounts = tc.mounts
			if !tc.sysctls {
				s.Linux.Sysctl = nil
			}
			if tc.chroot {
				s.Linux.Namespaces = s.Linux.Namespaces[1:]
			}
			p, err := initPlan(s, initPlanArgs{ID: "c1", Bundle: "/b", Rootfs: "/r", HostPid: 42, Cgroups: nil})
			if err != nil {
				t.Fatal(err)
			}
			await, unshare, firstMount, lastMount := -1, -1, -1, -1
			n := 0
			for i, op := range p.Ops {
				switch {
				case op.Code == initplan.AwaitCgroups:
					await = i
					n++
				case op.Code == initplan.Unshare && op.Args[1] == "cgroup":
					unshare = i
				case op.Code == initplan.Mount && len(op.Args) > 1 && op.Args[1] == "/sys/fs/cgroup":
					if firstMount < 0 {
						firstMount = i
					}
				case op.Code == initplan.Mount:
					lastMount = i
				}
			}
			if n != 1 || unshare != await+1 {
				t.Fatalf("%d AwaitCgroups (at %d), cgroup unshare at %d: %v", n, await, unshare, codes(p))
			}
			if w := index(p, initplan.Write); tc.sysctls && (w < unshare || w > index(p, initplan.Pivot)) {
				t.Errorf("await at %d, sysctl at %d: %v", await, w, codes(p))
			}
			switch {
			case firstMount >= 0 && await > firstMount:
				t.Errorf("await at %d after the cgroup mount at %d: %v", await, firstMount, codes(p))
			case firstMount >= 0 && await < index(p, initplan.SetRoot):
				t.Errorf("await at %d before the rootfs: %v", await, codes(p))
			case firstMount < 0 && !tc.chroot && (await < lastMount || await > index(p, initplan.Pivot)):
				t.Errorf("await at %d, want between the last mount %d and the pivot: %v", await, lastMount, codes(p))
			case await > index(p, initplan.Ready):
				t.Errorf("await after ready: %v", codes(p))
			}
		})
	}
}

func TestInitPlanOrder(t *testing.T) {
	s := testSpec()
	sc := &compiledSeccomp{Filter: &seccomp.Filter{Prog: []unix.SockFilter{{Code: 6, K: 0x7fff0000}}}}
	p, err := initPlan(s, initPlanArgs{ID: "c1", Bundle: "/b", Rootfs: "/r", Seccomp: sc, Hooks: true, HostPid: 42, Trace: true})
	if err != nil {
		t.Fatal(err)
	}
	order := []initplan.Code{initplan.Span, initplan.OpenProc, initplan.Setns, initplan.Keyring, initplan.SetRoot, initplan.AwaitCgroups,
		initplan.Unshare, initplan.Write, initplan.HookSync, initplan.Hook, initplan.Pivot, initplan.Sethostname, initplan.CapsUser,
		initplan.NoNewPrivs, initplan.LookPath, initplan.Ready, initplan.Fifo, initplan.MoveFds, initplan.ResetSignals,
		initplan.Seccomp, initplan.Exec}
	last := -1
	for _, c := range order {
		i := index(p, c)
		if i <= last {
			t.Fatalf("op %d at %d, after %d: %v", c, i, last, codes(p))
		}
		last = i
	}
	if p.Ops[len(p.Ops)-1].Code != initplan.Exec {
		t.Errorf("the plan does not end with exec: %v", codes(p))
	}
	// Sysctls in a stable order; the hook in the container is the
	// createContainer one (prestart runs in the parent) and gets the state
	// with the host pid; startContainer's comes after the fifo.
	var writes, hooks []string
	for _, op := range p.Ops {
		switch op.Code {
		case initplan.Write:
			writes = append(writes, op.Args[0].(string))
		case initplan.Hook:
			hooks = append(hooks, op.Args[0].(string)+" "+op.Args[1].(string))
			if !strings.Contains(op.Args[5].(string), `"pid":42`) {
				t.Errorf("hook state %s", op.Args[5])
			}
		}
	}
	if strings.Join(writes, ",") != "/proc/sys/net/a,/proc/sys/net/b" {
		t.Errorf("sysctls %v", writes)
	}
	if strings.Join(hooks, ",") != "createContainer /bin/cc,startContainer /bin/sc" || index(p, initplan.Fifo) > lastIndex(p, initplan.Hook) {
		t.Errorf("hooks %v in %v", hooks, codes(p))
	}
	// Without no_new_privs the filter is loaded before the capabilities go.
	s.Process.NoNewPrivileges = false
	p, err = initPlan(s, initPlanArgs{ID: "c1", Rootfs: "/r", Seccomp: sc})
	if err != nil {
		t.Fatal(err)
	}
	if i := index(p, initplan.Seccomp); i < 0 || i > index(p, initplan.CapsUser) || index(p, initplan.Span) >= 0 {
		t.Errorf("seccomp at %d, caps at %d: %v", i, index(p, initplan.CapsUser), codes(p))
	}
}

func lastIndex(p *initplan.Plan, c initplan.Code) int {
	l := -1
	for i, op := range p.Ops {
		if op.Code == c {
			l = i
		}
	}
	return l
}

func TestInitPlanRefuses(t *testing.T) {
	s := testSpec()
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}}
	if _, err := initPlan(s, initPlanArgs{Rootfs: "/r"}); err == nil || !strings.Contains(err.Error(), "RLIMIT_BOGUS") {
		t.Errorf("unknown rlimit: %v", err)
	}
	s = testSpec()
	zero := 0
	s.Hooks.CreateContainer[0].Timeout = &zero
	if _, err := initPlan(s, initPlanArgs{Rootfs: "/r"}); err == nil || !strings.Contains(err.Error(), "timeout must be positive") {
		t.Errorf("zero timeout: %v", err)
	}
}

// An exec'd process is set up like init's process, without rootfs or fifo.
func TestExecPlan(t *testing.T) {
	pr := testSpec().Process
	pr.Terminal = true
	p, err := execPlan(pr, true, nil, specs.State{}, 0, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []initplan.Code{initplan.Pivot, initplan.Fifo, initplan.Mount, initplan.Seccomp} {
		if index(p, c) >= 0 {
			t.Errorf("exec plan has op %d: %v", c, codes(p))
		}
	}
	con := p.Ops[index(p, initplan.Console)]
	if con.Args[0] != int64(execConsoleFd) || con.Args[1] != int64(1) {
		t.Errorf("console %v", con.Args)
	}
	mv := p.Ops[index(p, initplan.MoveFds)]
	if mv.Args[0] != int64(5) || mv.Args[1] != int64(2) {
		t.Errorf("move fds %v", mv.Args)
	}
	// In a user namespace every capability can be granted.
	cu := p.Ops[index(p, initplan.CapsUser)]
	if cu.Args[0] != int64(1<<5) {
		t.Errorf("bounding %#x", cu.Args[0])
	}
}

// A new network namespace gets lo up, before the sysctls (which may be
// the namespace's); a joined one, or the host's, is left as it is.
func TestInitPlanLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   *specs.LinuxNamespace
		want bool
	}{
		{"new", &specs.LinuxNamespace{Type: specs.NetworkNamespace}, true},
		{"joined", &specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}, false},
		{"host", nil, false},
	} {
		s := testSpec()
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.NetworkNamespace {
				keep = append(keep, ns)
			}
		}
		if tc.ns != nil {
			keep = append(keep, *tc.ns)
		}
		s.Linux.Namespaces = keep
		p, err := initPlan(s, initPlanArgs{ID: "c1", Rootfs: "/r"})
		if err != nil {
			t.Fatal(err)
		}
		i := index(p, initplan.LoopbackUp)
		if got := i >= 0; got != tc.want {
			t.Errorf("%s network namespace: lo up planned %v, want %v: %v", tc.name, got, tc.want, codes(p))
		}
		if tc.want && i > index(p, initplan.Write) {
			t.Errorf("lo up after the sysctls: %v", codes(p))
		}
	}
}

// The spare shim's warm-up goes through every step of a create it warms:
// a step that fails would leave its first run to the container's create.
func TestWarmCreateSteps(t *testing.T) {
	if err := warmCreate(); err != nil {
		t.Fatal(err)
	}
}
