package build

import (
	"fmt"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// symbolicOp is one operation of a symbolic mode: who, + - or =, and the
// permission letters.
type symbolicOp struct {
	who   int64 // the bits the clause's [ugoa] cover (0: all)
	op    byte
	perms string
}

// parseSymbolic reads a chmod(1) symbolic mode (COPY --chmod=u+x,go-w,
// as BuildKit takes since Dockerfile 1.14): clauses [ugoa]*([+-=][rwxXst]*)+
// separated by commas. It returns the function that applies it to an
// entry's permission bits.
func parseSymbolic(s string) (func(mode int64, isDir bool) int64, error) {
	bad := func() error {
		return fmt.Errorf("invalid --chmod=%s: neither an octal mode (0755) nor a symbolic one (u+x,go-w): %w", s, errdefs.ErrInvalidArgument)
	}
	var ops []symbolicOp
	for _, clause := range strings.Split(s, ",") {
		i := 0
		var who int64
		for ; i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0; i++ {
			who |= map[byte]int64{'u': 0o4700, 'g': 0o2070, 'o': 0o1007, 'a': 0o7777}[clause[i]]
		}
		if i == len(clause) {
			return nil, bad()
		}
		for i < len(clause) {
			op := clause[i]
			if strings.IndexByte("+-=", op) < 0 {
				return nil, bad()
			}
			j := i + 1
			for j < len(clause) && strings.IndexByte("rwxXst", clause[j]) >= 0 {
				j++
			}
			ops = append(ops, symbolicOp{who: who, op: op, perms: clause[i+1 : j]})
			i = j
		}
	}
	return func(mode int64, isDir bool) int64 {
		for _, o := range ops {
			mask := o.who
			if mask == 0 {
				mask = 0o7777
			}
			var bits int64
			for _, p := range o.perms {
				switch p {
				case 'r':
					bits |= 0o444
				case 'w':
					bits |= 0o222
				case 'x':
					bits |= 0o111
				case 'X':
					if isDir || mode&0o111 != 0 {
						bits |= 0o111
					}
				case 's':
					bits |= 0o6000
				case 't':
					bits |= 0o1000
				}
			}
			bits &= mask
			switch o.op {
			case '+':
				mode |= bits
			case '-':
				mode &^= bits
			case '=':
				mode = mode&^mask | bits
			}
		}
		return mode & 0o7777
	}, nil
}
