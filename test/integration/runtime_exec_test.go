package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuntimeExec(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	id := "exec"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	// Same pid, mount and uts namespaces as the container; exit code comes back.
	out, errOut, code := e.cmd(t, nil, "exec", id, "sh", "-c", "ps -o pid,comm; hostname; ls /proc/self/fd; exit 7")
	if code != 7 {
		t.Fatalf("exec exit %d, want 7: %s", code, errOut)
	}
	if !strings.Contains(out, "1 sleep") || !strings.Contains(out, "berth\n") {
		t.Fatalf("exec does not see the container: %q", out)
	}
	if fds := strings.Fields(out[strings.Index(out, "berth\n")+6:]); len(fds) != 4 {
		t.Fatalf("exec'd process has fds %v", fds)
	}
	// --process, --detach, --pid-file.
	proc := `{"args":["sleep","30"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}`
	pf := filepath.Join(e.dir, "process.json")
	if err := os.WriteFile(pf, []byte(proc), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(e.dir, "exec.pid")
	e.must(t, "exec", "--process", pf, "--detach", "--pid-file", pidFile, id)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	if err := json.Unmarshal([]byte(e.must(t, "ps", "--format", "json", id)), &pids); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pids {
		found = found || strings.TrimSpace(string(b)) == itoa(p)
	}
	if !found {
		t.Fatalf("exec'd pid %s not in the container's cgroup %v", b, pids)
	}
	if _, errOut, code := e.cmd(t, nil, "exec", id, "/no/such"); code != 1 || !strings.Contains(errOut, "/no/such") {
		t.Fatalf("exec of a missing binary: exit %d: %s", code, errOut)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Without runtime-init next to the runtime, create and exec fail with an
// error that names the missing program, and leave no container behind.
func TestRuntimeMissingInitHelper(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	b, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	alone := filepath.Join(e.dir, "alone")
	if err := os.Mkdir(alone, 0o755); err != nil {
		t.Fatal(err)
	}
	full := e.bin
	e.bin = filepath.Join(alone, "runtime")
	if err := os.WriteFile(e.bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	id := "nohelper"
	e.cleanup(t, id)
	_, errOut, code := e.cmd(t, nil, "run", "-d", id)
	if code == 0 || !strings.Contains(errOut, "runtime-init") {
		t.Fatalf("run without the helper: exit %d: %q, want an error naming runtime-init", code, errOut)
	}
	if out, _, code := e.cmd(t, nil, "state", id); code == 0 {
		t.Fatalf("a failed create left a container: %s", out)
	}
	// A container made by a complete install: exec from the lone runtime
	// fails the same way.
	e.bin = full
	e.must(t, "run", "-d", id)
	e.bin = filepath.Join(alone, "runtime")
	_, errOut, code = e.cmd(t, nil, "exec", id, "true")
	if code == 0 || !strings.Contains(errOut, "runtime-init") {
		t.Fatalf("exec without the helper: exit %d: %q, want an error naming runtime-init", code, errOut)
	}
}
