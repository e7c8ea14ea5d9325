package seccomp

import (
	"sort"

	"golang.org/x/sys/unix"
)

// linearSection is the layout this compiler used before the binary search
// (until December 2026), kept as the reference the new layout must agree
// with: a linear chain of one jeq per named syscall number.
//
//	[x86_64: nr >= __X32_SYSCALL_BIT -> x32 part]
//	[default ERRNO: nr > highest named syscall -> ENOSYS]
//	per syscall number: jeq nr, else next block; its rules; ret default
func linearSection(p *profile, a, x32 *arch, on, onX32 bool) []unix.SockFilter {
	part := func(a *arch, on bool) []unix.SockFilter {
		if !on {
			return []unix.SockFilter{ret(unix.SECCOMP_RET_KILL_PROCESS)}
		}
		return linearArch(a, p.rules, p.def, p.enosys)
	}
	if x32 == nil {
		return part(a, on)
	}
	s64, s32 := part(a, on), part(x32, onX32)
	code := []unix.SockFilter{jump(unix.BPF_JGE, x32SyscallBit, 0, 1), ja(uint32(len(s64)))}
	code = append(code, s64...)
	return append(code, s32...)
}

func linearArch(a *arch, rules []rule, def uint32, enosys bool) []unix.SockFilter {
	byNr := map[uint32][]rule{}
	for _, r := range rules {
		seen := map[uint32]bool{}
		for _, n := range r.names {
			nr, ok := a.table.lookup(n)
			if !ok || seen[nr] {
				continue
			}
			seen[nr] = true
			byNr[nr+a.nrBase] = append(byNr[nr+a.nrBase], r)
		}
	}
	nrs := make([]uint32, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	var out []unix.SockFilter
	if enosys && len(nrs) > 0 {
		out = append(out, jump(unix.BPF_JGT, nrs[len(nrs)-1], 0, 1), ret(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	}
	for _, nr := range nrs {
		body := compileSyscall(a, byNr[nr], def)
		if len(body) <= 255 {
			out = append(out, jump(unix.BPF_JEQ, nr, 0, uint8(len(body))))
		} else {
			out = append(out, jump(unix.BPF_JEQ, nr, 1, 0), ja(uint32(len(body))))
		}
		out = append(out, body...)
	}
	return append(out, ret(def))
}
