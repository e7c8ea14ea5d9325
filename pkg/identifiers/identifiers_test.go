package identifiers

import (
	"regexp"
	"strings"
	"testing"
)

// The rule it replaces, as a regexp: both must agree.
var rule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func TestValid(t *testing.T) {
	for _, id := range []string{
		"", "a", "0", "abc-DEF_1.2", "-a", ".a", "_a", "a/b", "a b", "..", ".", "a\x00", "é", "a\n",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a" + strings.Repeat("-", 127), "a" + strings.Repeat("-", 128),
	} {
		if got, want := Valid(id), rule.MatchString(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"a", "abc-DEF_1.2", "-a", "a/b", strings.Repeat("z", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := Valid(id), rule.MatchString(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	})
}
