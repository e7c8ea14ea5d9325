// Package heap puts the runtime's heap on huge pages (package hugeheap)
// from its init, which runs before those of the packages that allocate
// most: cmd/runtime imports it first. Not for `runtime standby`, which
// may stay as long as its container.
package heap

import (
	"os"

	"github.com/berthd/berth/pkg/hugeheap"
)

// standbyArg is standby.Arg, not imported: that package's imports would be
// initialized, and would allocate, before this init.
const standbyArg = "standby"

func init() {
	if len(os.Args) > 1 && os.Args[1] == standbyArg {
		return
	}
	hugeheap.Use()
}
