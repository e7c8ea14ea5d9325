package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// Every package ctl links runs its inits at every ctl start, whatever the
// command (issue 14: ctl version should take a few ms). gRPC and protobuf
// (about 1.2 ms of inits on the test machine) are the daemons' wire, not
// ctl's: the Engine API is HTTP.
func TestCtlLinksNoGRPC(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/berthd/berth/cmd/ctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages: %s", len(deps), out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "google.golang.org/grpc") || strings.HasPrefix(p, "google.golang.org/protobuf") {
			t.Errorf("cmd/ctl links %s", p)
		}
	}
}
