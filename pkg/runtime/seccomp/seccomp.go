// Package seccomp compiles the runtime spec's linux.seccomp into a classic BPF
// program for seccomp(2), in our own code (no libseccomp, no cgo), and loads
// it on the calling thread.
//
// The program, per the audit architecture of the syscall:
//
//	ld arch; one jeq per listed architecture -> its section; else kill the process
//	section: ld nr; a binary search (jge) over the runs of syscall numbers
//	         that share a verdict (x86_64 and x32 together: x32's numbers
//	         have __X32_SYSCALL_BIT set) down to the run's code:
//	           a constant verdict (the default, ENOSYS above the highest
//	           named syscall when the default is ERRNO, an unconditional
//	           rule, kill for an unlisted x32): ret;
//	           a syscall with argument conditions: its rules in order (rules
//	           with conditions first): conditions, then ret action; a rule
//	           whose conditions fail falls to the next; no rule matched:
//	           ret default
//
// So a syscall runs through about log2(runs) comparisons (7 to 9 for
// Docker's default profile) rather than one per named syscall, as
// libseccomp's binary-tree optimization does; see docs/runtime.md.
//
// Rule order is the spec's, except that a syscall's unconditional rule is
// checked after its conditional ones (otherwise they could never match).
// Several conditions on the same argument index make one rule per condition
// (OR), as runc does for libseccomp; conditions on distinct indexes are ANDed.
// 64-bit arguments are compared as two 32-bit halves (high first); for i386
// only the low half exists.
package seccomp

import (
	"fmt"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run ./internal/mksyscalls -o zsyscalls_x86.go

// x32SyscallBit marks x32 syscalls, which share AUDIT_ARCH_X86_64.
const x32SyscallBit = 0x40000000

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Filter is a compiled program and the seccomp(2) flags to load it with.
type Filter struct {
	Prog  []unix.SockFilter
	Flags uint
	// Notify is set when a rule uses SCMP_ACT_NOTIFY: Load then makes a
	// listener fd for the config's listenerPath.
	Notify bool
}

// Actions, operators and architectures this compiler supports (the
// `features` document lists them).
var (
	Actions = []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
		"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}
	Operators = []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
		"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}
	Archs = []string{"SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"}
	Flags = []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"}
)

var flagBits = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":      unix.SECCOMP_FILTER_FLAG_TSYNC,
	"SECCOMP_FILTER_FLAG_LOG":        unix.SECCOMP_FILTER_FLAG_LOG,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW": unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

// Architectures of other machines: a rule for them can never match on an
// x86 kernel, so they are accepted and left out of the program.
var foreignArchs = map[specs.Arch]bool{
	specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true,
	specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true,
	specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
	specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true,
	"SCMP_ARCH_LOONGARCH64": true, "SCMP_ARCH_M68K": true, "SCMP_ARCH_SH": true, "SCMP_ARCH_SHEB": true,
}

// table maps syscall names to numbers; sorted by name.
type table []struct {
	name string
	nr   uint32
}

// lookup is a binary search by name (written out: sort.Search's closure
// call per step doubled the cost of compiling Docker's profile, whose
// 400-odd names are looked up once per architecture).
func (t table) lookup(name string) (uint32, bool) {
	i, j := 0, len(t)
	for i < j {
		m := int(uint(i+j) >> 1)
		if t[m].name < name {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < len(t) && t[i].name == name {
		return t[i].nr, true
	}
	return 0, false
}

type arch struct {
	name   specs.Arch
	audit  uint32
	table  table
	nrBase uint32 // added to every number (x32)
	arg32  bool   // arguments are 32-bit: compare the low half only
}

var (
	archX8664 = &arch{name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, table: syscallsX8664}
	archX86   = &arch{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, table: syscallsX86, arg32: true}
	archX32   = &arch{name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, table: syscallsX32, nrBase: x32SyscallBit}
)

// Compile turns c into a program. Errors are about the config (an unknown
// action, operator, architecture or flag, a notify listener).
func Compile(c *specs.LinuxSeccomp) (*Filter, error) {
	p, err := parse(c)
	if err != nil {
		return nil, err
	}
	prog := assemble(p.sections(searchSection))
	if len(prog) > 4096 {
		return nil, fmt.Errorf("seccomp profile compiles to %d BPF instructions; the kernel allows 4096", len(prog))
	}
	return &Filter{Prog: prog, Flags: p.flags, Notify: p.notify}, nil
}

// profile is a checked config, ready to be laid out as a program.
type profile struct {
	def             uint32 // the default action's return value
	enosys          bool   // default ERRNO: numbers above every named one get ENOSYS
	x8664, x86, x32 bool   // architectures the program lets through
	rules           []rule
	flags           uint
	notify          bool
}

func parse(c *specs.LinuxSeccomp) (*profile, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("seccomp: only amd64 hosts are supported (this is %s)", runtime.GOARCH)
	}
	def, err := actionRet(c.DefaultAction, c.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp defaultAction: %w", err)
	}
	if c.DefaultAction == specs.ActNotify {
		// The listener itself would be stopped on every syscall it makes.
		return nil, fmt.Errorf("seccomp defaultAction SCMP_ACT_NOTIFY is not supported")
	}
	p := &profile{def: def, enosys: c.DefaultAction == specs.ActErrno}
	for _, fl := range c.Flags {
		b, ok := flagBits[fl]
		if !ok {
			return nil, fmt.Errorf("seccomp flag %q is not supported", fl)
		}
		p.flags |= b
	}
	for _, a := range c.Architectures {
		switch a {
		case specs.ArchX86_64:
			p.x8664 = true
		case specs.ArchX86:
			p.x86 = true
		case specs.ArchX32:
			p.x32 = true
		default:
			if !foreignArchs[a] {
				return nil, fmt.Errorf("seccomp architecture %q is unknown", a)
			}
		}
	}
	if len(c.Architectures) == 0 {
		p.x8664 = true // libseccomp's default: the native architecture only
	}
	if p.rules, err = parseRules(c.Syscalls); err != nil {
		return nil, err
	}
	for _, r := range p.rules {
		p.notify = p.notify || r.ret == unix.SECCOMP_RET_USER_NOTIF
	}
	if p.notify && c.ListenerPath == "" {
		return nil, fmt.Errorf("seccomp: SCMP_ACT_NOTIFY needs listenerPath")
	}
	return p, nil
}

// section lays out the code run for one audit architecture after its
// leading ld nr: for a (x86_64 or i386) and, when x32 is not nil, for x32,
// which shares x86_64's audit architecture. An architecture that is not on
// kills the process.
type section func(p *profile, a, x32 *arch, on, onX32 bool) []unix.SockFilter

// searchSection lays a section out as a binary search over syscall
// numbers; x32's numbers have __X32_SYSCALL_BIT set, so x86_64 and x32 are
// one search over both ranges.
func searchSection(p *profile, a, x32 *arch, on, onX32 bool) []unix.SockFilter {
	sp := spans(a, on, p.rules, p.def, p.enosys, 0)
	if x32 != nil {
		sp = append(sp, spans(x32, onX32, p.rules, p.def, p.enosys, x32SyscallBit)...)
	}
	return search(sp)
}

type sect struct {
	audit uint32
	code  []unix.SockFilter // starts with ld nr
}

// sections are the architectures' sections in dispatch order.
func (p *profile) sections(lay section) []sect {
	var out []sect
	if p.x8664 || p.x32 {
		out = append(out, sect{unix.AUDIT_ARCH_X86_64, append([]unix.SockFilter{ldAbs(offNr)}, lay(p, archX8664, archX32, p.x8664, p.x32)...)})
	}
	if p.x86 {
		out = append(out, sect{unix.AUDIT_ARCH_I386, append([]unix.SockFilter{ldAbs(offNr)}, lay(p, archX86, nil, true, false)...)})
	}
	return out
}

// assemble puts the dispatch on the audit architecture in front of the
// sections: ld arch; per section "jeq audit, 0, 1; ja section"; else kill.
func assemble(sects []sect) []unix.SockFilter {
	prog := []unix.SockFilter{ldAbs(offArch)}
	head := 1 + 2*len(sects) + 1
	off := 0
	for i, s := range sects {
		// from the instruction after this ja to the section's start
		after := 1 + 2*i + 2
		prog = append(prog, jump(unix.BPF_JEQ, s.audit, 0, 1), ja(uint32(head-after+off)))
		off += len(s.code)
	}
	prog = append(prog, ret(unix.SECCOMP_RET_KILL_PROCESS))
	for _, s := range sects {
		prog = append(prog, s.code...)
	}
	return prog
}

// rule is one syscall rule: all conds must hold.
type rule struct {
	names []string
	ret   uint32
	conds []specs.LinuxSeccompArg
}

func parseRules(calls []specs.LinuxSyscall) ([]rule, error) {
	var out []rule
	for i, sc := range calls {
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("seccomp syscalls[%d]: names is empty", i)
		}
		r, err := actionRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp syscalls[%d] (%s): %w", i, strings.Join(sc.Names, ","), err)
		}
		perIndex := map[uint]int{}
		for _, a := range sc.Args {
			if a.Index >= 6 {
				return nil, fmt.Errorf("seccomp syscalls[%d]: argument index %d out of range (0-5)", i, a.Index)
			}
			if !validOp[a.Op] {
				return nil, fmt.Errorf("seccomp syscalls[%d]: operator %q is not supported", i, a.Op)
			}
			perIndex[a.Index]++
		}
		shared := false
		for _, n := range perIndex {
			shared = shared || n > 1
		}
		if shared {
			for _, a := range sc.Args {
				out = append(out, rule{names: sc.Names, ret: r, conds: []specs.LinuxSeccompArg{a}})
			}
			continue
		}
		out = append(out, rule{names: sc.Names, ret: r, conds: sc.Args})
	}
	return out, nil
}

var validOp = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

// actionRet is the SECCOMP_RET_* value of an action. errnoRet is only valid
// with ERRNO and TRACE; both default to EPERM, as in runc.
func actionRet(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if a != specs.ActErrno && a != specs.ActTrace {
			return 0, fmt.Errorf("errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", a)
		}
		if *errnoRet > 0xffff {
			return 0, fmt.Errorf("errnoRet %d out of range", *errnoRet)
		}
		data = uint32(*errnoRet)
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	case "":
		return 0, fmt.Errorf("action is empty")
	}
	return 0, fmt.Errorf("action %q is unknown", a)
}

// compileSyscall is the body run when the syscall number matched: its rules,
// conditional ones first, then the default action.
func compileSyscall(a *arch, rules []rule, def uint32) []unix.SockFilter {
	ordered := make([]rule, 0, len(rules))
	for _, r := range rules {
		if len(r.conds) > 0 {
			ordered = append(ordered, r)
		}
	}
	for _, r := range rules {
		if len(r.conds) == 0 {
			ordered = append(ordered, r)
			break // a later unconditional rule could never be reached
		}
	}
	// One assembly for all the rules (their jumps stay within the rule):
	// a Docker profile's socket has 30 rules on three architectures.
	n := 1
	for _, r := range ordered {
		n += 1 + 8*len(r.conds)
	}
	as := asm{ins: make([]unix.SockFilter, 0, n), jt: make([]int, 0, n), jf: make([]int, 0, n),
		labels: make([]int, 0, 2*n)}
	for _, r := range ordered {
		fail := as.newLabel()
		for _, c := range r.conds {
			as.cond(c, a.arg32, fail)
		}
		as.emit(ret(r.ret), -1, -1)
		as.place(fail)
	}
	if k := len(ordered); k == 0 || len(ordered[k-1].conds) > 0 {
		as.emit(ret(def), -1, -1) // else the unconditional rule always returns
	}
	return as.resolve()
}

// asm assembles rules with forward jumps to labels (all short: they stay
// within a rule, which has at most six conditions of at most seven
// instructions).
type asm struct {
	ins    []unix.SockFilter
	jt, jf []int // label per instruction, -1: fall through
	labels []int // label -> position, -1 until placed
}

func (as *asm) newLabel() int {
	as.labels = append(as.labels, -1)
	return len(as.labels) - 1
}

func (as *asm) place(l int) { as.labels[l] = len(as.ins) }

func (as *asm) emit(i unix.SockFilter, jt, jf int) {
	as.ins = append(as.ins, i)
	as.jt = append(as.jt, jt)
	as.jf = append(as.jf, jf)
}

func (as *asm) resolve() []unix.SockFilter {
	for i := range as.ins {
		for _, p := range []struct {
			l   int
			dst *uint8
		}{{as.jt[i], &as.ins[i].Jt}, {as.jf[i], &as.ins[i].Jf}} {
			if p.l < 0 {
				continue
			}
			off := as.labels[p.l] - (i + 1)
			if off < 0 || off > 255 {
				panic(fmt.Sprintf("seccomp: jump offset %d out of range", off))
			}
			*p.dst = uint8(off)
		}
	}
	return as.ins
}

// cond emits the check of one argument condition: it falls through when the
// condition holds and jumps to fail when it does not.
func (as *asm) cond(c specs.LinuxSeccompArg, arg32 bool, fail int) {
	type word struct{ off, val, mask uint32 }
	lo := offArgs + 8*uint32(c.Index)
	v, m := c.Value, c.Value
	if c.Op == specs.OpMaskedEqual {
		v = c.ValueTwo
	}
	words := []word{{lo + 4, uint32(v >> 32), uint32(m >> 32)}, {lo, uint32(v), uint32(m)}}
	if arg32 {
		words = words[1:]
	}
	ok := as.newLabel()
	last := len(words) - 1
	for i, w := range words {
		as.emit(ldAbs(w.off), -1, -1)
		switch c.Op {
		case specs.OpEqualTo:
			as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), -1, fail)
		case specs.OpMaskedEqual:
			as.emit(unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: w.mask}, -1, -1)
			as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), -1, fail)
		case specs.OpNotEqual:
			if i < last {
				as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), -1, ok)
			} else {
				as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), fail, -1)
			}
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			switch {
			case i < last:
				as.emit(jump(unix.BPF_JGT, w.val, 0, 0), ok, -1)
				as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), -1, fail)
			case c.Op == specs.OpGreaterThan:
				as.emit(jump(unix.BPF_JGT, w.val, 0, 0), -1, fail)
			default:
				as.emit(jump(unix.BPF_JGE, w.val, 0, 0), -1, fail)
			}
		case specs.OpLessThan, specs.OpLessEqual:
			switch {
			case i < last:
				as.emit(jump(unix.BPF_JGT, w.val, 0, 0), fail, -1)
				as.emit(jump(unix.BPF_JEQ, w.val, 0, 0), -1, ok)
			case c.Op == specs.OpLessThan:
				as.emit(jump(unix.BPF_JGE, w.val, 0, 0), fail, -1)
			default:
				as.emit(jump(unix.BPF_JGT, w.val, 0, 0), fail, -1)
			}
		}
	}
	as.place(ok)
}

func ldAbs(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}

func jump(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: jt, Jf: jf}
}

func ja(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: k} }

func ret(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
