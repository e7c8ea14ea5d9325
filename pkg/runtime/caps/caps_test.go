package caps

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int{"CAP_CHOWN": 0, "chown": 0, "CAP_SYS_ADMIN": 21, "CAP_CHECKPOINT_RESTORE": 40} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := Parse("CAP_NOPE"); err == nil {
		t.Error("unknown capability accepted")
	}
}

func TestRestrict(t *testing.T) {
	s, _ := FromSpec(nil)
	set, err := ParseSet([]string{"CAP_CHOWN", "CAP_SYS_RESOURCE"})
	if err != nil {
		t.Fatal(err)
	}
	s.Bounding, s.Effective = set, set
	avail, _ := ParseSet([]string{"CAP_CHOWN", "CAP_KILL"})
	r, missing := Restrict(s, avail)
	if len(missing) != 1 || missing[0] != "CAP_SYS_RESOURCE" {
		t.Fatalf("missing = %v", missing)
	}
	if !r.Bounding.Has(0) || r.Bounding.Has(24) {
		t.Fatalf("bounding = %b", r.Bounding)
	}
}
