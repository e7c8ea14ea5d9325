package supervisor

import "testing"

func TestParseRuntime(t *testing.T) {
	r, err := ParseRuntime("fast=/usr/bin/crun,--debug,--x")
	if err != nil || r.Name != "fast" || r.Path != "/usr/bin/crun" || len(r.Args) != 2 {
		t.Fatalf("%v %+v", err, r)
	}
	for _, bad := range []string{"", "x", "=p", "x="} {
		if _, err := ParseRuntime(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
