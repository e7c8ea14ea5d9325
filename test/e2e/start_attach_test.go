package e2e

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartAttached is ctl start -a/-i on real containers, as docker 28's
// start: the output and exit status of the container, stdin with -i, and
// a signal ctl gets forwarded to the container.
func TestStartAttached(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()

	s.mustRun("create", "--name", "outerr", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if out, errOut, code := s.run("start", "-a", "outerr"); code != 3 || out != "out\n" || errOut != "err\n" {
		t.Errorf("start -a: %d %q %q", code, out, errOut)
	}

	s.mustRun("create", "--name", "cat", "-i", "busybox", "cat")
	cmd := s.ctl("start", "-ai", "cat")
	cmd.Stdin = strings.NewReader("from stdin\n")
	if out, err := cmd.Output(); err != nil || string(out) != "from stdin\n" {
		t.Errorf("start -ai: %v %q", err, out)
	}

	s.mustRun("create", "--name", "trap", "busybox", "sh", "-c",
		"trap 'echo got USR1; exit 9' USR1; echo ready; while true; do sleep 0.1; done")
	cmd = s.ctl("start", "-a", "trap")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("start -a: first line %q, stderr %q", lines.Text(), stderr.String())
	}
	// ctl catches the signals right after the start's answer, which the
	// container's first line may overtake.
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	err = cmd.Wait()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 9 || strings.Join(rest, "\n") != "got USR1" {
		t.Errorf("start -a, USR1 forwarded: %v, output %q, stderr %q", err, rest, stderr.String())
	}
}
