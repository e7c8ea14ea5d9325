package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A pids limit stops fork: with pids.max at 4 (the shell is one of them), a
// shell starting eight background sleeps is refused a fork.
func TestRuntimePidsLimitStopsFork(t *testing.T) {
	limit := int64(4)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	}, "sh", "-c", `for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; echo all-started`)
	id := "pidslimit"
	e.cleanup(t, id)
	out, errOut, code := e.cmd(t, nil, "run", id)
	if code == 0 || strings.Contains(out, "all-started") || !strings.Contains(errOut, "can't fork") {
		t.Fatalf("pids limit did not stop fork: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The same loop without the limit starts everything: the limit, not the
	// loop, stopped it.
	e.editSpec(t, func(s *specs.Spec) { s.Linux.Resources.Pids = nil })
	e.cmd(t, nil, "delete", "--force", id)
	if out := e.must(t, "run", id); !strings.Contains(out, "all-started") {
		t.Fatalf("without a pids limit: %q", out)
	}
}

// A memory limit OOM-kills: a shell that grows a 64 MiB string under a
// 16 MiB limit (no swap) is killed by SIGKILL, so run exits 137.
func TestRuntimeMemoryLimitOOMKills(t *testing.T) {
	mem := int64(16 << 20)
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &mem}
	}, "sh", "-c", `x=$(head -c 67108864 /dev/zero | tr '\0' a); echo survived ${#x}`)
	id := "oomkill"
	e.cleanup(t, id)
	out, errOut, code := e.cmd(t, nil, "run", id)
	if code != 137 || strings.Contains(out, "survived") {
		t.Fatalf("run under a 16 MiB limit: exit %d, want 137 (OOM kill): %q %q", code, out, errOut)
	}
}
