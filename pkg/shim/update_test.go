package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// fakeRuntime is a runtime that records its arguments and standard input,
// and fails with a logged error when its input says "fail".
const fakeRuntime = `#!/bin/sh
dir=$(dirname "$0")
echo "$@" > "$dir/args"
cat > "$dir/stdin"
if grep -q fail "$dir/stdin"; then
	while [ "$1" != "--log" ]; do shift; done
	echo '{"level":"error","msg":"write 1 to pids.max: invalid argument","time":"x"}' >> "$2"
	exit 1
fi
`

func TestServiceUpdate(t *testing.T) {
	dir := t.TempDir()
	rt := filepath.Join(dir, "runtime")
	if err := os.WriteFile(rt, []byte(fakeRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	reaper := NewReaper()
	stop := make(chan struct{})
	if err := reaper.Run(stop); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(stop) })
	s := newService(Config{ID: "c1", Runtime: rt, RuntimeRoot: filepath.Join(dir, "root"), StateDir: dir}, reaper, nil)
	s.rt.mask = nil

	if err := s.update([]byte(`{"pids":{"limit":20}}`)); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("update before create: %v", err)
	}
	s.status = shimv1.Status_STATUS_RUNNING
	if err := s.update([]byte(`{"pids":{"limit":20}}`)); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if !strings.HasSuffix(strings.TrimSpace(string(args)), "update --resources - c1") || !strings.Contains(string(args), "--root "+filepath.Join(dir, "root")) {
		t.Errorf("runtime args %q", args)
	}
	if in, _ := os.ReadFile(filepath.Join(dir, "stdin")); string(in) != `{"pids":{"limit":20}}` {
		t.Errorf("runtime stdin %q", in)
	}
	// A large input does not fit a pipe's buffer at once.
	big := `{"unified":{"x.y":"` + strings.Repeat("a", 200<<10) + `"}}`
	if err := s.update([]byte(big)); err != nil {
		t.Fatal(err)
	}
	if in, _ := os.ReadFile(filepath.Join(dir, "stdin")); len(in) != len(big) {
		t.Errorf("runtime read %d bytes of %d", len(in), len(big))
	}
	err := s.update([]byte(`{"fail":1}`))
	if err == nil || !strings.Contains(err.Error(), "write 1 to pids.max: invalid argument") {
		t.Errorf("runtime failure: %v", err)
	}
	for _, bad := range []string{"", "[]", "nope"} {
		if err := s.update([]byte(bad)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("resources %q: %v", bad, err)
		}
	}
	s.status = shimv1.Status_STATUS_STOPPED
	if err := s.update([]byte(`{}`)); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("update of a stopped container: %v", err)
	}
}
