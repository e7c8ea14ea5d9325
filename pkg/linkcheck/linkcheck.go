// Package linkcheck lets tests assert what a command links: each package
// linked runs its inits at every start and widens what the binary owns.
package linkcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// Deps lists the packages pkg links (go list -deps), failing t when the
// list cannot be had or is implausibly short (a check over nothing).
func Deps(t testing.TB, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages: %s", len(deps), out)
	}
	return deps
}
