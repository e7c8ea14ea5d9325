// Package heap puts the runtime's heap on huge pages (package hugeheap)
// from its init. Go initializes packages in the order of their import
// paths, each after its imports: this one, with only os and hugeheap
// below it, comes right after os, before the packages that allocate most
// (the runtime's own, the spec's, cobra's). Not for `runtime standby`,
// which may stay as long as its container (a foreground `run` keeps its
// 2 MB page as long as its container too).
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
