package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/trace"
)

// tracedRun starts `runtime run` of e's bundle with a trace, its spans in
// a JSON log; wait returns the container's output, the exit code and the
// names of the runtime's spans.
func tracedRun(t *testing.T, e *rtEnv, id string) (cmd *exec.Cmd, wait func() (string, int, []string)) {
	t.Helper()
	log := filepath.Join(e.dir, id+".log")
	out, err := os.CreateTemp(e.dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(e.bin, "--root", e.root, "--log", log, "--log-format", "json", "run", "--bundle", e.bundle, id)
	cmd.Env = append(os.Environ(), trace.Env+"="+trace.NewID())
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.cleanup(t, id)
	return cmd, func() (string, int, []string) {
		_ = cmd.Wait()
		out.Close()
		b, _ := os.ReadFile(out.Name())
		l, _ := os.ReadFile(log)
		var names []string
		for _, line := range strings.Split(string(l), "\n") {
			if i := strings.Index(line, `"span":"`); i >= 0 {
				if s, err := trace.Decode(strings.SplitN(line[i+8:], `"`, 2)[0]); err == nil {
					names = append(names, s.Name)
				}
			}
		}
		return string(b), cmd.ProcessState.ExitCode(), names
	}
}

func hasSpan(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// The command line's `run` starts its init ahead, beside the bundle's
// load, and hands it the container; a spec the init does not fit gets a
// fresh one, and the unused init is reaped at once, not left a zombie
// child of a `run` that lives as long as its container.
func TestRuntimeCommandLineInitStartedAhead(t *testing.T) {
	t.Run("fits", func(t *testing.T) {
		e := newRtEnv(t, nil, "sh", "-c", "echo ok; readlink /proc/self/ns/pid; exit 4")
		_, wait := tracedRun(t, e, "cliahead")
		got, code, spans := wait()
		if code != 4 || !strings.HasPrefix(got, "ok\n") {
			t.Fatalf("exit %d, output %q", code, got)
		}
		if host, _ := os.Readlink("/proc/self/ns/pid"); strings.Contains(got, host) {
			t.Errorf("the container shares the host's pid namespace: %q", got)
		}
		if !hasSpan(spans, "init started ahead: hand-over") {
			t.Errorf("run did not use an init started ahead; spans %v", spans)
		}
	})
	t.Run("host IPC", func(t *testing.T) {
		e := newRtEnv(t, withoutNamespace(specs.IPCNamespace), "sh", "-c", "readlink /proc/self/ns/ipc; sleep 1")
		cmd, wait := tracedRun(t, e, "clihostipc")
		// While the container runs, `run` has one child: its init.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !e.running(t, "clihostipc") {
			time.Sleep(20 * time.Millisecond)
		}
		var children []string
		task := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task"
		entries, _ := os.ReadDir(task)
		for _, en := range entries {
			b, _ := os.ReadFile(filepath.Join(task, en.Name(), "children"))
			children = append(children, strings.Fields(string(b))...)
		}
		got, code, spans := wait()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, got)
		}
		if host, _ := os.Readlink("/proc/self/ns/ipc"); strings.TrimSpace(got) != host {
			t.Errorf("container's IPC namespace %q, want the host's %s", got, host)
		}
		if hasSpan(spans, "init started ahead: hand-over") {
			t.Error("a spec with the host's IPC namespace used the init started ahead")
		}
		if len(children) != 1 {
			t.Errorf("run's children while its container runs: %v, want its init only", children)
		}
	})
}

// running reports whether container id exists and runs.
func (e *rtEnv) running(t *testing.T, id string) bool {
	out, _, code := e.cmd(t, nil, "state", id)
	var st specs.State
	return code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Status == specs.StateRunning
}
