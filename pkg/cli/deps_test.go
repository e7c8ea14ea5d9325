package cli

import (
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/linkcheck"
)

// Every package ctl links runs its inits at every ctl start, whatever the
// command (issue 14: ctl version should take a few ms). gRPC and protobuf
// (about 1.2 ms of inits on the test machine) are the daemons' wire, not
// ctl's: the Engine API is HTTP.
func TestCtlLinksNoGRPC(t *testing.T) {
	for _, p := range linkcheck.Deps(t, "github.com/berthd/berth/cmd/ctl") {
		if strings.HasPrefix(p, "google.golang.org/grpc") || strings.HasPrefix(p, "google.golang.org/protobuf") {
			t.Errorf("cmd/ctl links %s", p)
		}
	}
}
