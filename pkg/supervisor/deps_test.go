package supervisor

import (
	"os/exec"
	"strings"
	"testing"
)

// supervisord reaches a container only through its shim's API: it links
// the shim's client and records, never the shim's server (issue 13), as
// containerd checks that its daemon does not link a shim.
func TestSupervisordDoesNotLinkTheShim(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/berthd/berth/cmd/supervisord").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages: %s", len(deps), out)
	}
	for _, p := range deps {
		if p == "github.com/berthd/berth/pkg/shim" {
			t.Errorf("cmd/supervisord links %s", p)
		}
	}
}
