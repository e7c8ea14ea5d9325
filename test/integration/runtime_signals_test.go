package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	// Real-time signals too (34, 40): every inherited SIG_IGN must go.
	script := `trap '' INT HUP QUIT TERM USR1 34 40; exec "$0" --root "$1" create --bundle "$2" sigs`
	create := exec.Command("/bin/bash", "-c", script, e.bin, e.root, e.bundle)
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
