package heap

import (
	"testing"

	"github.com/berthd/berth/pkg/runtime/standby"
)

func TestStandbyArg(t *testing.T) {
	if standbyArg != standby.Arg {
		t.Fatalf("standbyArg %q, standby.Arg %q", standbyArg, standby.Arg)
	}
}
