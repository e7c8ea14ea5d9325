package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// Signals ignored by whoever started the runtime (a background shell, a
// daemon, a shim) must not stay ignored in the container: ignored
// dispositions survive execve, and `trap` or ^C in the container would
// silently do nothing. create is the path shims take.
func TestRuntimeResetsInheritedIgnoredSignals(t *testing.T) {
	e := newRtEnv(t, nil, "grep", "SigIgn", "/proc/self/status")
	t.Cleanup(func() { e.cleanup(t, "sigs") })
	outPath := filepath.Join(e.dir, "container.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Real-time signals too (34, 40), and 32 and 33, which glibc reserves
	// (bash cannot trap them: a small C program ignores them first; CI's
	// runner had 32 ignored): every inherited SIG_IGN must go.
	ign := ignoreReservedSignals(t)
	script := `trap '' INT HUP QUIT TERM USR1 34 40; exec "$0" --root "$1" create --bundle "$2" sigs`
	create := exec.Command(ign, "/bin/bash", "-c", script, e.bin, e.root, e.bundle)
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		b, _ := os.ReadFile(outPath)
		t.Fatalf("create: %v: %s", err, b)
	}
	e.must(t, "start", "sigs")
	var got string
	for i := 0; i < 200; i++ {
		b, _ := os.ReadFile(outPath)
		if got = string(b); strings.Contains(got, "SigIgn") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(got, "SigIgn:\t0000000000000000") {
		t.Fatalf("container inherited ignored signals:\n%s", got)
	}
}

// ignoreReservedSignals builds a program that sets signals 32 and 33 to
// SIG_IGN with raw rt_sigaction calls and executes its arguments.
func ignoreReservedSignals(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	testprereq.Require(t, err == nil, "cc (a C compiler: make build needs one for runtime-init)")
	dir := t.TempDir()
	src := filepath.Join(dir, "ign.c")
	prog := `#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>
struct ksigaction { unsigned long handler, flags, restorer; unsigned long long mask; };
int main(int argc, char **argv) {
	struct ksigaction ign = {1, 0, 0, 0};
	(void)argc;
	for (int sig = 32; sig <= 33; sig++)
		if (syscall(SYS_rt_sigaction, sig, &ign, 0, 8) < 0)
			return 2;
	execv(argv[1], argv + 1);
	return 3;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ign")
	if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v: %s", err, out)
	}
	return bin
}
