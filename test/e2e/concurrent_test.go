package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentRunDetached: 50 `run -d` at once, on the default bridge,
// all succeed and run; removed at once, they leave nothing (supervisor
// containers, mounts, shims here; veths, leases, rules and namespaces in
// the stack's cleanup). Issue 14: no global lock may turn this into a
// queue that times out or a race that loses a container.
func TestConcurrentRunDetached(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := ctlOutput(s, "run", "-d", "busybox", "sleep", "1000")
			if err != nil {
				errs <- "run -d: " + err.Error()
				return
			}
			ids[i] = strings.TrimSpace(out)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	running := strings.Fields(s.mustRun("ps", "-q", "--no-trunc"))
	if len(running) != n {
		t.Fatalf("%d containers running, want %d", len(running), n)
	}
	seen := map[string]bool{}
	for _, id := range running {
		seen[id] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("container %s from run -d is not running", id)
		}
	}
	// Every container got its own address on the bridge.
	addrs := map[string]bool{}
	for _, id := range ids {
		addrs[s.inspectField(id, "{{.NetworkSettings.IPAddress}}")] = true
	}
	if len(addrs) != n {
		t.Errorf("%d distinct addresses for %d containers", len(addrs), n)
	}
	errs = make(chan string, n)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ctlOutput(s, "rm", "-f", id); err != nil {
				errs <- "rm -f " + id + ": " + err.Error()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s.waitAllRemoved()
}

// ctlOutput runs ctl from any goroutine (s.run may end the test, which
// only the test's goroutine may do).
func ctlOutput(s *stack, args ...string) (string, error) {
	cmd := s.ctl(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}
