package supervisor

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/linkcheck"
)

// supervisord reaches a container only through its shim's API: it links
// the shim's client and records, never the shim's server (issue 13), as
// containerd checks that its daemon does not link a shim. berthd, the
// executable supervisord is installed from, does not either.
func TestSupervisordDoesNotLinkTheShim(t *testing.T) {
	for _, cmd := range []string{"supervisord", "berthd"} {
		for _, p := range linkcheck.Deps(t, "github.com/berthd/berth/cmd/"+cmd) {
			if p == "github.com/berthd/berth/pkg/shim" {
				t.Errorf("cmd/%s links %s", cmd, p)
			}
		}
	}
}

// supervisord never opens a container's cgroup files: the shim reports
// them (Stats, Pids) and applies limits (Update).
func TestSupervisorReadsNoCgroup(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}`,
		"github.com/berthd/berth/pkg/supervisor/...", "github.com/berthd/berth/cmd/supervisord").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	files := strings.Fields(string(out))
	if len(files) < 10 {
		t.Fatalf("go list gave %d files: %s", len(files), out)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"/sys/fs/cgroup", "/cgroup\"", "cgroup.procs", "memory.usage_in_bytes", "cpu.stat"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s mentions %q", f, s)
			}
		}
	}
}
