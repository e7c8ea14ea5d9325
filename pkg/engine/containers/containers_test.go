package containers

import (
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestNames(t *testing.T) {
	for _, ok := range []string{"web", "/web", "a1", "my_app.v2-x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "-x", "has space", "a/b", "_x"} {
		if err := ValidateName(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q accepted", bad)
		}
	}
	taken := map[string]bool{}
	for i := 0; i < 200; i++ {
		n := GenerateName(func(s string) bool { return taken[s] })
		if taken[n] || ValidateName(n) != nil {
			t.Fatalf("bad or duplicate name %q", n)
		}
		taken[n] = true
	}
	id := NewID()
	if len(id) != 64 || NewID() == id {
		t.Errorf("id %q", id)
	}
}

func TestNormalizeImageRef(t *testing.T) {
	cases := map[string][2]string{
		"busybox":           {"docker.io/library/busybox:latest", "busybox:latest"},
		"busybox:1.36":      {"docker.io/library/busybox:1.36", "busybox:1.36"},
		"example.com/a/b":   {"example.com/a/b:latest", "example.com/a/b:latest"},
		"sha256:" + NewID(): {"", ""},
	}
	for in, want := range cases {
		name, fam, err := NormalizeImageRef(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if want[0] == "" {
			want = [2]string{in, in}
		}
		if name != want[0] || fam != want[1] {
			t.Errorf("%s: %q %q, want %q", in, name, fam, want)
		}
	}
	if _, _, err := NormalizeImageRef("UPPER"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("invalid ref: %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"": 9, "KILL": 9, "SIGTERM": 15, "term": 15, "1": 1, "USR1": 10} {
		got, err := ParseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"NOPE", "0", "99"} {
		if _, err := ParseSignal(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
