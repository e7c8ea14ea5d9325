// Package heap puts ctl's heap on huge pages (package hugeheap) from its
// init, which runs before those of the packages that allocate most:
// cmd/ctl imports it first.
package heap

import "github.com/berthd/berth/pkg/hugeheap"

func init() { hugeheap.Use() }
