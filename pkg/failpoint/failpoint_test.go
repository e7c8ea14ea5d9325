package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestHitKillsOnlyTheArmedStep(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		Hit("other")
		os.Stdout.WriteString("survived other\n")
		Hit("armed")
		os.Stdout.WriteString("survived armed\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestHitKillsOnlyTheArmedStep")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", Env+"=armed")
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, output %q", err, out)
	}
	if string(out) != "survived other\n" {
		t.Fatalf("output %q", out)
	}
}
