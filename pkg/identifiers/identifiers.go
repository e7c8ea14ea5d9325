// Package identifiers checks the IDs of containers and execs: 1 to 128 of
// [A-Za-z0-9_.-], starting with a letter or digit (as containerd's), so an
// ID is always a safe single path element and file name.
//
// A hand-written check rather than a regexp: `{0,127}` compiles into 127
// nested copies of its class, about 1700 allocations at package init, paid
// at every start of the shim (one per container) whether or not it checks
// an ID.
package identifiers

// MaxLength is the longest valid ID.
const MaxLength = 128

// Valid reports whether id is a valid container or exec ID.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLength || !alnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
