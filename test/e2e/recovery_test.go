package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGKILL of engined and supervisord with 20 containers running: none dies,
// their logs have no gap (the shims kept logging with no daemon above them),
// and after both restart every container is listed and controllable; one that
// exited while the daemons were down shows its real exit code.
func TestRecoveryKill9With20Containers(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()

	const counters = 19
	counter := `i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done`
	pids := map[string]int{}
	for i := 0; i < counters; i++ {
		name := fmt.Sprintf("count%d", i)
		id := strings.TrimSpace(s.mustRun("run", "-d", "--name", name, "busybox", "sh", "-c", counter))
		pids[name] = s.containerPid(id)
	}
	// Started last and timed to exit while the daemons are down.
	exiterID := strings.TrimSpace(s.mustRun("run", "-d", "--name", "exiter", "busybox", "sh", "-c", "sleep 3; exit 42"))
	exiterPid := s.containerPid(exiterID)

	s.kill9(s.engine)
	s.kill9(s.supervisor)
	eventually(t, "the exiter to exit with no daemon running", func() bool {
		return syscall.Kill(exiterPid, 0) != nil
	})
	time.Sleep(500 * time.Millisecond) // the counters go on printing meanwhile
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("%s (pid %d) died with the daemons: %v", name, pid, err)
		}
	}

	s.startSupervisor()
	s.startEngine()

	ps := s.mustRun("ps")
	for name := range pids {
		if !strings.Contains(ps, name) {
			t.Errorf("%s not listed running after restart:\n%s", name, ps)
		}
	}
	if code := s.inspectField("exiter", "{{.State.ExitCode}}"); code != "42" {
		t.Errorf("exiter exit code after restart: %q, want 42", code)
	}
	if st := s.inspectField("exiter", "{{.State.Status}}"); st != "exited" {
		t.Errorf("exiter status after restart: %q", st)
	}

	// Controllable: exec into one, stop another, and every log is gapless.
	if out := s.mustRun("exec", "count0", "echo", "still here"); out != "still here\n" {
		t.Errorf("exec after restart: %q", out)
	}
	s.mustRun("stop", "-t", "1", "count1")
	if st := s.inspectField("count1", "{{.State.Status}}"); st != "exited" {
		t.Errorf("count1 after stop: %q", st)
	}
	for name := range pids {
		checkCounterLog(t, name, s.mustRun("logs", name))
	}
}

// checkCounterLog checks that a counter's log is 0, 1, 2, ... with no gap.
func checkCounterLog(t *testing.T, name, log string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) < 20 {
		t.Errorf("%s logged only %d lines", name, len(lines))
		return
	}
	for i, l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil || n != i {
			t.Errorf("%s: log line %d is %q, want %d (a gap or garbage)", name, i, l, i)
			return
		}
	}
}
