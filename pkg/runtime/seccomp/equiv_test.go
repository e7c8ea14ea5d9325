package seccomp

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The binary-search layout must give every syscall the verdict the linear
// layout gave it (the program used until December 2026), and the verdict
// that reading the config directly gives (verdict below, which shares no
// code with the compiler but the action values): for every syscall number
// of each architecture, the numbers around them and at the ends of the
// number space, with the argument values the conditions compare against.

// allCaps is every capability, so that Docker's profile has all its
// capability-dependent rules.
var allCaps = []string{"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE",
	"CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON",
	"CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT",
	"CAP_SYS_MODULE", "CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_WAKE_ALARM"}

// dockerDefaultCaps are the capabilities `docker run` grants by default.
var dockerDefaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func dockerProfile(t testing.TB, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := mobyseccomp.GetDefaultProfile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSearchMatchesLinearDockerDefault(t *testing.T) {
	for name, caps := range map[string][]string{"docker defaults": dockerDefaultCaps, "all": allCaps, "none": nil} {
		t.Run(name, func(t *testing.T) {
			c := dockerProfile(t, caps)
			n := checkEquivalent(t, c)
			p, _ := parse(c)
			fast, linear := len(compile(t, c).Prog), len(assemble(p.sections(linearSection)))
			t.Logf("%d syscall rules, %d instructions (linear chain: %d), %d verdicts compared", len(c.Syscalls), fast, linear, n)
			if fast >= linear {
				t.Errorf("the binary search (%d instructions) is not shorter than the linear chain (%d)", fast, linear)
			}
		})
	}
}

func TestSearchMatchesLinearRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	names := tableNames()
	n := 0
	for i := 0; i < 40; i++ {
		c := randomProfile(rng, names)
		n += checkEquivalent(t, c)
		if t.Failed() {
			t.Fatalf("profile %d: %+v", i, c)
		}
	}
	t.Logf("%d verdicts compared", n)
}

// checkEquivalent compares the two layouts and the direct reading of c;
// it returns how many (arch, nr, args) it compared.
func checkEquivalent(t *testing.T, c *specs.LinuxSeccomp) int {
	t.Helper()
	p, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	fast, linear := assemble(p.sections(searchSection)), assemble(p.sections(linearSection))
	for _, prog := range [][]unix.SockFilter{fast, linear} {
		checkShape(t, prog)
	}
	if f := compile(t, c); !slices.Equal(f.Prog, fast) {
		t.Fatal("Compile does not lay out the binary search")
	}
	count := 0
	argSets := argVectors(c)
	r := read(c)
	for _, archV := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0} {
		for _, nr := range probeNumbers() {
			// Numbers no rule with conditions names only need one args vector.
			sets := argSets[:1]
			if r.conditional(archV, nr) {
				sets = argSets
			}
			for _, args := range sets {
				want := r.verdict(archV, nr, args)
				if got := run(t, fast, archV, nr, args); got != want {
					t.Fatalf("arch %#x nr %#x args %#x: binary search says %#x, the config %#x", archV, nr, args, got, want)
				}
				if got := run(t, linear, archV, nr, args); got != want {
					t.Fatalf("arch %#x nr %#x args %#x: linear chain says %#x, the config %#x", archV, nr, args, got, want)
				}
				count++
			}
		}
	}
	return count
}

// checkShape checks what the kernel's checker (bpf_check_classic) would:
// every jump lands inside the program, and it ends in a ret.
func checkShape(t *testing.T, prog []unix.SockFilter) {
	t.Helper()
	if len(prog) == 0 || len(prog) > 4096 || prog[len(prog)-1].Code != unix.BPF_RET|unix.BPF_K {
		t.Fatalf("program of %d instructions, last %#v", len(prog), prog[len(prog)-1])
	}
	for pc, in := range prog {
		switch {
		case in.Code == unix.BPF_JMP|unix.BPF_JA:
			if pc+1+int(in.K) >= len(prog) {
				t.Fatalf("pc %d: ja %d out of the program", pc, in.K)
			}
		case in.Code&0x07 == unix.BPF_JMP:
			if pc+1+int(max(in.Jt, in.Jf)) >= len(prog) {
				t.Fatalf("pc %d: jump %d/%d out of the program", pc, in.Jt, in.Jf)
			}
		}
	}
}

// probeNumbers are every syscall number of the three architectures, their
// neighbours, and the edges of the number space.
func probeNumbers() []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	add := func(n uint32) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, tb := range []struct {
		t    table
		base uint32
	}{{syscallsX8664, 0}, {syscallsX86, 0}, {syscallsX32, x32SyscallBit}} {
		for _, e := range tb.t {
			add(tb.base + e.nr - 1)
			add(tb.base + e.nr)
			add(tb.base + e.nr + 1)
		}
	}
	for n := uint32(0); n < 600; n++ {
		add(n)
		add(x32SyscallBit + n)
	}
	for _, n := range []uint32{x32SyscallBit - 1, x32SyscallBit + 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff} {
		add(n)
	}
	return out
}

// argVectors are the argument values that matter to c's conditions: each
// compared value, its neighbours and its other half, in each argument;
// the first vector is all zeros.
func argVectors(c *specs.LinuxSeccomp) [][6]uint64 {
	out := [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}
	for _, sc := range c.Syscalls {
		for _, a := range sc.Args {
			for _, v := range []uint64{a.Value, a.Value + 1, a.Value - 1, a.ValueTwo, a.ValueTwo | ^a.Value,
				a.Value ^ 0xffffffff00000000, uint64(uint32(a.Value)), a.Value | 1<<32} {
				var args [6]uint64
				args[a.Index] = v
				out = append(out, args)
				// and with the other conditions of the rule holding
				for _, b := range sc.Args {
					if b.Index != a.Index {
						args[b.Index] = b.Value
						if b.Op == specs.OpMaskedEqual {
							args[b.Index] = b.ValueTwo
						}
					}
				}
				out = append(out, args)
			}
		}
	}
	return out
}

// arch of a (audit arch, number) under c, and the number in its table;
// nil when the program kills the process for it.
func archOf(c *specs.LinuxSeccomp, archV, nr uint32) (*arch, uint32) {
	listed := func(a specs.Arch) bool {
		if len(c.Architectures) == 0 {
			return a == specs.ArchX86_64
		}
		return slices.Contains(c.Architectures, a)
	}
	switch {
	case archV == unix.AUDIT_ARCH_X86_64 && nr >= x32SyscallBit && listed(specs.ArchX32):
		return archX32, nr - x32SyscallBit
	case archV == unix.AUDIT_ARCH_X86_64 && nr < x32SyscallBit && listed(specs.ArchX86_64):
		return archX8664, nr
	case archV == unix.AUDIT_ARCH_I386 && listed(specs.ArchX86):
		return archX86, nr
	}
	return nil, 0
}

// reading is c indexed for verdict: per architecture, the entries naming
// each syscall number, in the config's order, and the highest named number.
type reading struct {
	c       *specs.LinuxSeccomp
	entries map[*arch]map[uint32][]specs.LinuxSyscall
	highest map[*arch]uint32
}

func read(c *specs.LinuxSeccomp) *reading {
	r := &reading{c: c, entries: map[*arch]map[uint32][]specs.LinuxSyscall{}, highest: map[*arch]uint32{}}
	for _, a := range []*arch{archX8664, archX86, archX32} {
		m := map[uint32][]specs.LinuxSyscall{}
		for _, sc := range c.Syscalls {
			named := map[uint32]bool{}
			for _, n := range sc.Names {
				if nr, ok := a.table.lookup(n); ok && !named[nr] {
					named[nr] = true
					m[nr] = append(m[nr], sc)
					r.highest[a] = max(r.highest[a], nr)
				}
			}
		}
		r.entries[a] = m
	}
	return r
}

func (r *reading) conditional(archV, nr uint32) bool {
	a, n := archOf(r.c, archV, nr)
	if a == nil {
		return false
	}
	for _, sc := range r.entries[a][n] {
		if len(sc.Args) > 0 {
			return true
		}
	}
	return false
}

// verdict reads the config directly: the first entry naming the syscall whose
// conditions hold (entries with conditions before those without; several
// conditions on one argument: any of them, runc's reading; on distinct
// arguments: all), else the default; above every named syscall of the
// architecture, ENOSYS when the default is ERRNO.
func (r *reading) verdict(archV, nr uint32, args [6]uint64) uint32 {
	c := r.c
	a, n := archOf(c, archV, nr)
	if a == nil {
		return unix.SECCOMP_RET_KILL_PROCESS
	}
	def, _ := actionRet(c.DefaultAction, c.DefaultErrnoRet)
	es := r.entries[a][n]
	if len(es) == 0 {
		if c.DefaultAction == specs.ActErrno && len(r.entries[a]) > 0 && n > r.highest[a] {
			return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		}
		return def
	}
	holds := func(arg specs.LinuxSeccompArg) bool {
		v, x, y := args[arg.Index], arg.Value, arg.ValueTwo
		if a.arg32 {
			v, x, y = uint64(uint32(v)), uint64(uint32(x)), uint64(uint32(y))
		}
		return ref(arg.Op, v, x, y)
	}
	matches := func(sc specs.LinuxSyscall) bool {
		perIndex := map[uint]int{}
		for _, arg := range sc.Args {
			perIndex[arg.Index]++
		}
		anyOf := false
		for _, k := range perIndex {
			anyOf = anyOf || k > 1
		}
		for _, arg := range sc.Args {
			if anyOf && holds(arg) {
				return true
			}
			if !anyOf && !holds(arg) {
				return false
			}
		}
		return !anyOf
	}
	for _, sc := range es {
		if len(sc.Args) > 0 && matches(sc) {
			r, _ := actionRet(sc.Action, sc.ErrnoRet)
			return r
		}
	}
	for _, sc := range es {
		if len(sc.Args) == 0 {
			r, _ := actionRet(sc.Action, sc.ErrnoRet)
			return r
		}
	}
	return def
}

func tableNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, tb := range []table{syscallsX8664, syscallsX86, syscallsX32} {
		for _, e := range tb {
			if !seen[e.name] {
				seen[e.name] = true
				out = append(out, e.name)
			}
		}
	}
	return out
}

// randomProfile is a config with random default action (and errnoRet),
// architectures, flags, and rules of every action, NOTIFY included, over
// runs of neighbouring and scattered syscalls, with argument conditions
// of every operator, some on one argument (OR), some on several (AND).
func randomProfile(rng *rand.Rand, names []string) *specs.LinuxSeccomp {
	actions := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillProcess,
		specs.ActKillThread, specs.ActLog, specs.ActTrace, specs.ActTrap, specs.ActNotify}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual,
		specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual}
	values := []uint64{0, 1, 8, 40, 0xffffffff, 0x100000000, 0xffffffffffffffff, 0x7e020000, 0x20008}
	c := &specs.LinuxSeccomp{ListenerPath: "/run/agent.sock"}
	c.DefaultAction = actions[rng.Intn(len(actions)-1)] // not NOTIFY
	if c.DefaultAction == specs.ActErrno || c.DefaultAction == specs.ActTrace {
		if rng.Intn(2) == 0 {
			c.DefaultErrnoRet = u(uint(rng.Intn(200)))
		}
	}
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64} {
		if rng.Intn(3) > 0 {
			c.Architectures = append(c.Architectures, a)
		}
	}
	for _, fl := range Flags {
		if rng.Intn(3) == 0 {
			c.Flags = append(c.Flags, specs.LinuxSeccompFlag(fl))
		}
	}
	for r := rng.Intn(25); r >= 0; r-- {
		sc := specs.LinuxSyscall{Action: actions[rng.Intn(len(actions))]}
		if (sc.Action == specs.ActErrno || sc.Action == specs.ActTrace) && rng.Intn(2) == 0 {
			sc.ErrnoRet = u(uint(rng.Intn(4096)))
		}
		switch rng.Intn(4) {
		case 0: // a long allowlist, as Docker's
			for _, n := range names {
				if rng.Intn(3) > 0 {
					sc.Names = append(sc.Names, n)
				}
			}
		case 1: // one name, maybe twice, maybe unknown
			sc.Names = []string{names[rng.Intn(len(names))]}
			if rng.Intn(4) == 0 {
				sc.Names = append(sc.Names, sc.Names[0], "no_such_syscall")
			}
		default:
			for k := rng.Intn(8); k >= 0; k-- {
				sc.Names = append(sc.Names, names[rng.Intn(len(names))])
			}
		}
		if len(sc.Names) <= 8 && rng.Intn(2) == 0 { // conditions: on short lists (the kernel's 4096 instructions)
			for k := rng.Intn(3); k >= 0; k-- {
				arg := specs.LinuxSeccompArg{Index: uint(rng.Intn(3)), Op: ops[rng.Intn(len(ops))],
					Value: values[rng.Intn(len(values))], ValueTwo: values[rng.Intn(len(values))]}
				sc.Args = append(sc.Args, arg)
			}
		}
		c.Syscalls = append(c.Syscalls, sc)
	}
	return c
}

func TestVerdictReadsDockerDefault(t *testing.T) {
	// The reference itself, on what Docker's profile is known to do.
	c := dockerProfile(t, dockerDefaultCaps)
	x64 := uint32(unix.AUDIT_ARCH_X86_64)
	for _, k := range []struct {
		arch, nr uint32
		args     [6]uint64
		want     uint32
	}{
		{x64, unix.SYS_GETPPID, [6]uint64{}, allow},
		{x64, unix.SYS_UNSHARE, [6]uint64{unix.CLONE_NEWUSER}, eperm},
		{x64, unix.SYS_KEYCTL, [6]uint64{}, eperm},
		{x64, unix.SYS_CLONE3, [6]uint64{}, enosys},
		{x64, unix.SYS_CLONE, [6]uint64{unix.CLONE_NEWUSER}, eperm},
		{x64, unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD}, allow},
		{x64, unix.SYS_PERSONALITY, [6]uint64{0xffffffff}, allow},
		{x64, unix.SYS_PERSONALITY, [6]uint64{1}, eperm},
		{x64, unix.SYS_SOCKET, [6]uint64{unix.AF_INET}, allow},
		{x64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK}, eperm},
		{x64, 1000, [6]uint64{}, enosys},
		{x64, x32SyscallBit + 39, [6]uint64{}, allow},
		{unix.AUDIT_ARCH_I386, 20, [6]uint64{}, allow},
		{unix.AUDIT_ARCH_AARCH64, 172, [6]uint64{}, kill},
	} {
		if got := read(c).verdict(k.arch, k.nr, k.args); got != k.want {
			t.Errorf("arch %#x nr %d args %#x: %#x, want %#x", k.arch, k.nr, k.args, got, k.want)
		}
	}
}

// How far a syscall travels through Docker's default program: the search
// reaches any syscall in a handful of comparisons.
func TestSearchDepthDockerDefault(t *testing.T) {
	c := dockerProfile(t, dockerDefaultCaps)
	f := compile(t, c)
	p, _ := parse(c)
	linear := assemble(p.sections(linearSection))
	worst := map[string]int{}
	for _, nr := range probeNumbers() {
		for _, archV := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386} {
			for name, prog := range map[string][]unix.SockFilter{"search": f.Prog, "linear": linear} {
				key := fmt.Sprintf("%s %#x", name, archV)
				worst[key] = max(worst[key], steps(t, prog, archV, nr))
			}
		}
	}
	getppid := steps(t, f.Prog, unix.AUDIT_ARCH_X86_64, unix.SYS_GETPPID)
	t.Logf("instructions run (zero arguments): getppid %d (linear chain %d), personality %d (%d), most by layout and arch %v",
		getppid, steps(t, linear, unix.AUDIT_ARCH_X86_64, unix.SYS_GETPPID),
		steps(t, f.Prog, unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY), steps(t, linear, unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY), worst)
	if getppid > 16 {
		t.Errorf("getppid runs through %d instructions", getppid)
	}
}

// steps counts the instructions a syscall with zero arguments runs
// through.
func steps(t *testing.T, prog []unix.SockFilter, archV, nr uint32) int {
	t.Helper()
	_, n, err := interpret(prog, archV, nr, [6]uint64{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
