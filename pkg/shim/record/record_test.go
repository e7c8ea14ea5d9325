package record

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExitRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok := ReadExit(dir); ok {
		t.Fatal("an exit record where none was written")
	}
	want := Exit{Pid: 42, ExitStatus: 137, ExitedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), OOMKilled: true}
	if err := WriteExit(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok := ReadExit(dir)
	if !ok || got != want {
		t.Fatalf("got %+v %v, want %+v", got, ok, want)
	}
	// A torn or foreign file is no record.
	if err := os.WriteFile(filepath.Join(dir, ExitFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := ReadExit(dir); ok {
		t.Fatal("a corrupt exit record was read")
	}
}

func TestCheckSocketPath(t *testing.T) {
	if CheckSocketPath("") == nil || CheckSocketPath("/"+strings.Repeat("s", MaxSocketPath)) == nil {
		t.Fatal("a bad socket path passed")
	}
	if err := CheckSocketPath("/" + strings.Repeat("s", MaxSocketPath-1)); err != nil {
		t.Fatal(err)
	}
}

// The records package is what callers of a shim import: it must not pull
// in an RPC transport.
func TestNoTransport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "google.golang.org/grpc" || strings.HasPrefix(p, "github.com/containerd/ttrpc") {
			t.Errorf("pkg/shim/record links %s", p)
		}
	}
}
