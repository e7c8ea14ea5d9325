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
	// number, in the spec's order (a counting sort: the numbers are small);
	// a rule naming a syscall twice counts once.
	type use struct{ nr, rule uint32 }
	var named []use
	top := uint32(0)
	for i, r := range rules {
		for _, n := range r.names {
			if nr, ok := a.table.lookup(n); ok { // unknown on a: libseccomp skips it too
				named = append(named, use{nr, uint32(i)})
				top = max(top, nr)
			}
		}
	}
	start := make([]int, top+2)
	for _, u := range named {
		start[u.nr+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	uses := make([]use, len(named))
	for _, u := range named {
		uses[start[u.nr]] = use{u.nr + a.nrBase, u.rule}
		start[u.nr]++
	}
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
	return emitSearch(make([]unix.SockFilter, 0, searchLen(sp)), sp)
}

// searchLen is the length of search(sp), so that it is written into one
// slice.
func searchLen(sp []span) int {
	if len(sp) == 1 {
		return len(sp[0].code)
	}
	lower := searchLen(sp[:len(sp)/2])
	n := 1 + lower + searchLen(sp[len(sp)/2:])
	if lower > 255 {
		n++
	}
	return n
}

func emitSearch(out []unix.SockFilter, sp []span) []unix.SockFilter {
	if len(sp) == 1 {
		return append(out, sp[0].code...)
	}
	mid := len(sp) / 2
	if lower := searchLen(sp[:mid]); lower <= 255 {
		out = append(out, jump(unix.BPF_JGE, sp[mid].lo, uint8(lower), 0))
	} else {
		out = append(out, jump(unix.BPF_JGE, sp[mid].lo, 0, 1), ja(uint32(lower)))
	}
	out = emitSearch(out, sp[:mid])
	return emitSearch(out, sp[mid:])
}
