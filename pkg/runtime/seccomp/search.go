package seccomp

import (
	"slices"

	"golang.org/x/sys/unix"
)

// span is a run of syscall numbers, from lo up to the next span's lo (or to
// the end of the number space), that all run the same code: one ret for a
// constant verdict, or the rules of a syscall with argument conditions
// (shared by adjacent syscalls whose rules are the same). The code always
// ends in a ret.
type span struct {
	lo   uint32
	code []unix.SockFilter
}

// spans is what every syscall number of architecture a runs, from base (0,
// or __X32_SYSCALL_BIT for x32, whose numbers have it added) to the end of
// the number space. With on unset, every number kills the process, as for
// an architecture the profile does not list.
func spans(a *arch, on bool, rules []rule, def uint32, enosys bool, base uint32) []span {
	if !on {
		return []span{{base, []unix.SockFilter{ret(unix.SECCOMP_RET_KILL_PROCESS)}}}
	}
	// Every (syscall number, rule) pair, in number order and, for one
	// number, in the spec's order; a rule naming a syscall twice counts once.
	type use struct{ nr, rule uint32 }
	var uses []use
	for i, r := range rules {
		for _, n := range r.names {
			if nr, ok := a.table.lookup(n); ok { // unknown on a: libseccomp skips it too
				uses = append(uses, use{nr + a.nrBase, uint32(i)})
			}
		}
	}
	slices.SortFunc(uses, func(x, y use) int {
		if x.nr != y.nr {
			return int(int64(x.nr) - int64(y.nr))
		}
		return int(int64(x.rule) - int64(y.rule))
	})
	uses = slices.Compact(uses)

	rets := map[uint32][]unix.SockFilter{} // one slice per constant verdict
	retCode := func(k uint32) []unix.SockFilter {
		c, ok := rets[k]
		if !ok {
			c = []unix.SockFilter{ret(k)}
			rets[k] = c
		}
		return c
	}
	var out []span
	add := func(lo uint32, code []unix.SockFilter) {
		if n := len(out); n > 0 && out[n-1].lo == lo {
			out = out[:n-1] // replaced: a syscall starts where the previous one's range ended
		}
		if n := len(out); n > 0 && slices.Equal(out[n-1].code, code) {
			return // the same code as the run before: it grows
		}
		out = append(out, span{lo, code})
	}
	add(base, retCode(def))
	for i := 0; i < len(uses); {
		nr := uses[i].nr
		j := i
		conditional := false
		for ; j < len(uses) && uses[j].nr == nr; j++ {
			conditional = conditional || len(rules[uses[j].rule].conds) > 0
		}
		if conditional {
			rs := make([]rule, 0, j-i)
			for _, u := range uses[i:j] {
				rs = append(rs, rules[u.rule])
			}
			add(nr, compileSyscall(a, rs, def))
		} else {
			add(nr, retCode(rules[uses[i].rule].ret)) // the first unconditional rule decides
		}
		after := def
		if j == len(uses) && enosys {
			// A syscall newer than any the profile names gets ENOSYS rather
			// than the default errno, so libcs fall back to older calls (clone3).
			after = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		}
		add(nr+1, retCode(after))
		i = j
	}
	return out
}

// search is a binary search over the spans (sorted by lo, the first
// starting at the lowest number its section dispatches to): a syscall runs
// through about log2(len(sp)) comparisons to reach its code, instead of one
// per syscall the profile names.
//
//	jge mid.lo, <upper half>, <lower half>
//	lower half (spans before mid)
//	upper half (mid and after)
//
// A jump over a lower half longer than 255 instructions (the reach of a
// conditional jump) goes through a ja.
func search(sp []span) []unix.SockFilter {
	if len(sp) == 1 {
		return sp[0].code
	}
	mid := len(sp) / 2
	lower, upper := search(sp[:mid]), search(sp[mid:])
	out := make([]unix.SockFilter, 0, 2+len(lower)+len(upper))
	if len(lower) <= 255 {
		out = append(out, jump(unix.BPF_JGE, sp[mid].lo, uint8(len(lower)), 0))
	} else {
		out = append(out, jump(unix.BPF_JGE, sp[mid].lo, 0, 1), ja(uint32(len(lower))))
	}
	out = append(out, lower...)
	return append(out, upper...)
}
