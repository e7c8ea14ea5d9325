package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var traceLine = regexp.MustCompile(`^\s*([0-9.]+) ms\s+([0-9.]+) ms\s+(\S+)\s+(.+)$`)

type traceStep struct {
	at, took    float64
	layer, step string
}

// parseTrace reads the timeline ctl run --trace prints on stderr.
func parseTrace(t *testing.T, stderr string) []traceStep {
	t.Helper()
	var steps []traceStep
	for _, l := range strings.Split(stderr, "\n") {
		m := traceLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		took, _ := strconv.ParseFloat(m[2], 64)
		steps = append(steps, traceStep{at, took, m[3], strings.TrimSpace(m[4])})
	}
	if len(steps) == 0 || !strings.Contains(stderr, "trace ") {
		t.Fatalf("no timeline on stderr:\n%s", stderr)
	}
	return steps
}

// TestRunTrace: ctl run --trace (and BERTH_TRACE) prints one timeline with
// the spans of every layer, each layer's steps in the order of the start.
func TestRunTrace(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	bind := t.TempDir()
	for _, tc := range []struct {
		viaEnv bool
		// ahead: the task is made at the create (engined's tasks made
		// ahead), else by the start (a container with a bind).
		ahead bool
	}{{false, true}, {true, true}, {false, false}} {
		args := []string{"run", "--rm", "--network", "none"}
		if !tc.ahead {
			args = append(args, "-v", bind+":/data")
		}
		cmd := s.ctl(append(args, "--trace", "busybox", "echo", "hi")...)
		if tc.viaEnv {
			cmd = s.ctl(append(args, "busybox", "echo", "hi")...)
			cmd.Env = append(cmd.Env, "BERTH_TRACE=1")
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		if stdout.String() != "hi\n" {
			t.Fatalf("stdout %q: the timeline must stay off stdout", stdout.String())
		}
		steps := parseTrace(t, stderr.String())
		t.Logf("timeline:\n%s", stderr.String())
		// The start path, layer by layer, in the order it happens.
		type step struct{ layer, step string }
		want := []step{
			{"ctl", "run"},
			{"ctl", "create"},
			{"engined", "create"},
			{"engined", "spec"},
			{"supervisord", "Containers/Create"},
		}
		if tc.ahead {
			// The start comes while the task is being made.
			want = append(want, step{"engined", "task create ahead"})
		} else {
			want = append(want, step{"engined", "start"}, step{"engined", "task create"})
		}
		want = append(want, []step{
			{"supervisord", "Tasks/Create"},
			{"supervisord", "shim spawn"},
			{"shim", "Shim/Create"},
			{"shim", "runtime create"},
			// berth's runtime runs the create and the start in the
			// shim's process (docs/shim.md): its spans are the runtime's.
			{"runtime", "load bundle"},
			{"runtime", "seccomp compile"},
			{"runtime", "clone (init start-up)"},
			{"runtime", "init: mounts"},
			{"runtime", "init: rootfs"},
			{"engined", "task start"},
			{"shim", "runtime start"},
			{"runtime", "exec (fifo to execve)"},
			{"shim", "reap"},
			{"engined", "exit (task delete, network down)"},
		}...)
		last := -1.0
		for _, w := range want {
			// The first such span from the step before it on.
			found := false
			for _, st := range steps {
				if st.layer == w.layer && st.step == w.step && st.at >= last {
					last, found = st.at, true
					break
				}
			}
			if !found {
				t.Errorf("no span %s %q at or after %.2f ms (the step before it) in the timeline:\n%s", w.layer, w.step, last, stderr.String())
			}
		}
		if tc.ahead {
			var start, ahead, taskStart *traceStep
			for i, st := range steps {
				switch {
				case st.layer == "engined" && st.step == "start":
					start = &steps[i]
				case st.layer == "engined" && st.step == "task create ahead":
					ahead = &steps[i]
				case st.layer == "engined" && st.step == "task start":
					taskStart = &steps[i]
				}
			}
			if start == nil || ahead == nil || taskStart == nil || start.at < ahead.at || taskStart.at < ahead.at+ahead.took {
				t.Errorf("the start did not take the task made ahead after its create:\n%s", stderr.String())
			}
		}
	}
	// On a network of its own the container's addresses and interfaces are
	// made while its task is created, which needs only the namespace.
	var stderr strings.Builder
	cmd := s.ctl("run", "--rm", "--trace", "busybox", "true")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run on the default bridge: %v\n%s", err, stderr.String())
	}
	steps := parseTrace(t, stderr.String())
	find := func(layer, step string) traceStep {
		for _, st := range steps {
			if st.layer == layer && st.step == step {
				return st
			}
		}
		t.Fatalf("no span %s %q in the timeline:\n%s", layer, step, stderr.String())
		return traceStep{}
	}
	netUp, create := find("engined", "network (beside the task create)"), find("engined", "task create")
	if netUp.at >= create.at+create.took {
		t.Errorf("the network's set-up began after the task's create had ended:\n%s", stderr.String())
	}
}
