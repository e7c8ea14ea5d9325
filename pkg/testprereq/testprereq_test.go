package testprereq

import (
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped, r.msg = true, args[0].(string) }
func (r *recorder) Fatal(args ...any) { r.failed, r.msg = true, args[0].(string) }

func TestRequire(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{}
		Require(r, true, "x")
		if r.skipped || r.failed {
			t.Errorf("CI=%q: a met prerequisite ended the test", ci)
		}
		r = &recorder{}
		Require(r, false, "busybox at %s", "/bin/busybox")
		if r.msg != "missing prerequisite: busybox at /bin/busybox" || r.failed != (ci == "true") || r.skipped != (ci != "true") {
			t.Errorf("CI=%q: %+v", ci, r)
		}
	}
}
