package integration

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// inPrivateMountNS runs the calling test again in a new mount namespace of
// its own (Go makes every mount private there before exec) and reports its
// output; it returns false in the caller, which must return then. In that
// copy it returns true: the test may mount what it likes, all of it goes
// with the namespace when the copy exits. The test must be a top-level test.
func inPrivateMountNS(t *testing.T) bool {
	t.Helper()
	const env = "BERTH_TEST_PRIVATE_MOUNTNS"
	if os.Getenv(env) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("in a private mount namespace:\n%s", out)
	if err != nil {
		t.Fatalf("%s in a private mount namespace: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in the private mount namespace", t.Name())
	}
	return false
}

// mountsUnder lists the mount points at or below dir in this mount namespace.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mps []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	return mps
}
