package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// run interprets a classic BPF seccomp program the way the kernel does for
// the instructions the compiler emits, and fails the test on any other.
func run(t *testing.T, prog []unix.SockFilter, archV, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	r, _, err := interpret(prog, archV, nr, args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// interpret returns the verdict and how many instructions ran.
func interpret(prog []unix.SockFilter, archV, nr uint32, args [6]uint64) (uint32, int, error) {
	var data [64]byte
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], archV)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var A uint32
	for pc, n := 0, 1; pc < len(prog); pc, n = pc+1, n+1 {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || in.K+4 > uint32(len(data)) {
				return 0, n, fmt.Errorf("pc %d: bad load offset %d", pc, in.K)
			}
			A = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			A &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = A == in.K
			case unix.BPF_JGT:
				ok = A > in.K
			case unix.BPF_JGE:
				ok = A >= in.K
			case unix.BPF_JSET:
				ok = A&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K, n, nil
		default:
			return 0, n, fmt.Errorf("pc %d: unexpected instruction %#x", pc, in.Code)
		}
	}
	return 0, 0, fmt.Errorf("program ran off its end")
}

func compile(t *testing.T, c *specs.LinuxSeccomp) *Filter {
	t.Helper()
	f, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func u(v uint) *uint { return &v }

const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	kill   = unix.SECCOMP_RET_KILL_PROCESS
)

var x64 = uint32(unix.AUDIT_ARCH_X86_64)

func TestDenyRule(t *testing.T) {
	f := compile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat", "no_such_syscall"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.EACCES))},
			{Names: []string{"getpid"}, Action: specs.ActKill},
			{Names: []string{"getppid"}, Action: specs.ActTrap},
			{Names: []string{"gettid"}, Action: specs.ActLog},
			{Names: []string{"uname"}, Action: specs.ActTrace},
			{Names: []string{"mount"}, Action: specs.ActNotify},
		},
		ListenerPath: "/run/agent.sock",
	})
	if !f.Notify {
		t.Error("a NOTIFY rule did not ask for a listener")
	}
	for _, c := range []struct {
		nr   uint32
		want uint32
	}{
		{unix.SYS_MKDIR, unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{unix.SYS_MKDIRAT, unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{unix.SYS_READ, allow},
		{unix.SYS_GETPID, unix.SECCOMP_RET_KILL_THREAD},
		{unix.SYS_GETPPID, unix.SECCOMP_RET_TRAP},
		{unix.SYS_GETTID, unix.SECCOMP_RET_LOG},
		{unix.SYS_UNAME, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{unix.SYS_MOUNT, unix.SECCOMP_RET_USER_NOTIF},
		{400, allow},
	} {
		if got := run(t, f.Prog, x64, c.nr, [6]uint64{}); got != c.want {
			t.Errorf("syscall %d: verdict %#x, want %#x", c.nr, got, c.want)
		}
	}
	// Only x86_64 is listed: i386 and x32 syscalls kill the process.
	if got := run(t, f.Prog, unix.AUDIT_ARCH_I386, 39, [6]uint64{}); got != kill {
		t.Errorf("i386 syscall: %#x, want kill", got)
	}
	if got := run(t, f.Prog, x64, x32SyscallBit+39, [6]uint64{}); got != kill {
		t.Errorf("x32 syscall: %#x, want kill", got)
	}
}

func TestAllowlistAndArchs(t *testing.T) {
	f := compile(t, &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: u(uint(unix.EPERM)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group", "getpid"}, Action: specs.ActAllow},
		},
	})
	for _, c := range []struct {
		arch, nr uint32
		want     uint32
	}{
		{x64, unix.SYS_READ, allow},
		{x64, unix.SYS_GETPID, allow},
		{x64, unix.SYS_MKDIR, eperm},
		{x64, unix.SYS_EXIT_GROUP, allow},
		{x64, unix.SYS_EXIT_GROUP + 1, enosys}, // newer than every named syscall
		{x64, x32SyscallBit + 39, allow},       // x32 getpid
		{x64, x32SyscallBit + 83, eperm},       // x32 mkdir
		{unix.AUDIT_ARCH_I386, 20, allow},      // i386 getpid
		{unix.AUDIT_ARCH_I386, 39, eperm},      // i386 mkdir
		{unix.AUDIT_ARCH_AARCH64, 172, kill},
	} {
		if got := run(t, f.Prog, c.arch, c.nr, [6]uint64{}); got != c.want {
			t.Errorf("arch %#x syscall %#x: verdict %#x, want %#x", c.arch, c.nr, got, c.want)
		}
	}
}

// ref is what a condition means, computed directly.
func ref(op specs.LinuxSeccompOperator, arg, v, v2 uint64) bool {
	switch op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpMaskedEqual:
		return arg&v == v2
	}
	panic(op)
}

func TestArgumentOperators(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	// Values whose halves are equal, adjacent or extreme, where a wrong
	// two-word comparison shows.
	edge := []uint64{0, 1, 2, 0xffffffff, 0x100000000, 0x100000001, 0xffffffff00000000,
		0xfffffffffffffffe, 0xffffffffffffffff, 0x7fffffff, 0x80000000, 0x1ffffffff}
	pick := func() uint64 {
		if rng.Intn(2) == 0 {
			return edge[rng.Intn(len(edge))]
		}
		return rng.Uint64() >> uint(rng.Intn(64))
	}
	for _, op := range []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan,
		specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual} {
		for i := 0; i < 40; i++ {
			v, v2 := pick(), pick()
			if op == specs.OpMaskedEqual && rng.Intn(2) == 0 {
				v2 &= v // make a match possible
			}
			idx := uint(rng.Intn(6))
			f := compile(t, &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActErrno,
					Args: []specs.LinuxSeccompArg{{Index: idx, Op: op, Value: v, ValueTwo: v2}}}},
			})
			for j := 0; j < 40; j++ {
				arg := pick()
				switch j {
				case 0:
					arg = v
				case 1:
					arg = v + 1
				case 2:
					arg = v - 1
				case 3:
					arg = v ^ 0xffffffff00000000
				case 4:
					arg = v2
				}
				var args [6]uint64
				args[idx] = arg
				want := uint32(allow)
				if ref(op, arg, v, v2) {
					want = eperm
				}
				if got := run(t, f.Prog, x64, unix.SYS_IOCTL, args); got != want {
					t.Fatalf("%s value=%#x valueTwo=%#x arg%d=%#x: verdict %#x, want %#x", op, v, v2, idx, arg, got, want)
				}
			}
		}
	}
}

func TestConditionsAndOr(t *testing.T) {
	f := compile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			// distinct indexes: AND
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: unix.AF_UNIX},
				{Index: 1, Op: specs.OpMaskedEqual, Value: 0xf, ValueTwo: unix.SOCK_STREAM}}},
			// the same index twice: OR (runc's rule)
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 0},
				{Index: 0, Op: specs.OpEqualTo, Value: 8}}},
			// conditional deny before an unconditional allow of the same syscall
			{Names: []string{"kill"}, Action: specs.ActAllow},
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.ESRCH)), Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
		},
	})
	for _, c := range []struct {
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, allow},
		{unix.SYS_SOCKET, [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, eperm},
		{unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_DGRAM}, eperm},
		{unix.SYS_PERSONALITY, [6]uint64{0}, allow},
		{unix.SYS_PERSONALITY, [6]uint64{8}, allow},
		{unix.SYS_PERSONALITY, [6]uint64{9}, eperm},
		{unix.SYS_KILL, [6]uint64{1}, unix.SECCOMP_RET_ERRNO | uint32(unix.ESRCH)},
		{unix.SYS_KILL, [6]uint64{2}, allow},
	} {
		if got := run(t, f.Prog, x64, c.nr, c.args); got != c.want {
			t.Errorf("syscall %d %v: verdict %#x, want %#x", c.nr, c.args, got, c.want)
		}
	}
}

func TestFlagsAndErrors(t *testing.T) {
	f := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"}})
	if want := uint(unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW | unix.SECCOMP_FILTER_FLAG_TSYNC); f.Flags != want {
		t.Errorf("flags %#x, want %#x", f.Flags, want)
	}
	for name, c := range map[string]*specs.LinuxSeccomp{
		"not supported":      {DefaultAction: specs.ActNotify},
		"needs listenerPath": {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}},
		"unknown":            {DefaultAction: "SCMP_ACT_FOO"},
		"errnoRet":           {DefaultAction: specs.ActAllow, DefaultErrnoRet: u(1)},
		"architecture":       {DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}},
		"flag":               {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}},
		"operator":           {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_XX"}}}}},
		"out of range":       {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		"names is empty":     {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}},
	} {
		_, err := Compile(c)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// A docker-sized allowlist on three architectures fits the kernel's limit,
// and every named syscall is allowed on each.
func TestLargeProfile(t *testing.T) {
	var names []string
	for _, e := range syscallsX8664 {
		names = append(names, e.name)
	}
	f := compile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: unix.CLONE_NEWUSER, ValueTwo: 0}}}},
	})
	t.Logf("%d syscalls, %d instructions", len(names), len(f.Prog))
	for _, n := range names {
		nr, _ := syscallsX8664.lookup(n)
		if got := run(t, f.Prog, x64, nr, [6]uint64{}); got != allow {
			t.Fatalf("%s: %#x", n, got)
		}
		if nr, ok := syscallsX86.lookup(n); ok {
			if got := run(t, f.Prog, unix.AUDIT_ARCH_I386, nr, [6]uint64{}); got != allow {
				t.Fatalf("i386 %s: %#x", n, got)
			}
		}
	}
}

func Example() {
	f, _ := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}})
	fmt.Println(len(f.Prog))
	// Output: 12
}

// A compiled filter survives its trip to init and exec as JSON; a damaged
// one is refused rather than loaded short.
func TestFilterJSON(t *testing.T) {
	c := dockerProfile(t, dockerDefaultCaps)
	c.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"}
	c.ListenerPath = "/run/agent.sock"
	c.Syscalls = append(c.Syscalls, specs.LinuxSyscall{Names: []string{"mount"}, Action: specs.ActNotify})
	f := compile(t, c)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var got Filter
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Prog, f.Prog) || got.Flags != f.Flags || !got.Notify {
		t.Fatalf("round trip: %d instructions, flags %#x, notify %v; want %d, %#x, true", len(got.Prog), got.Flags, got.Notify, len(f.Prog), f.Flags)
	}
	for _, bad := range []string{`{"prog":""}`, `{"prog":"AAAA"}`, `{"prog":1}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
