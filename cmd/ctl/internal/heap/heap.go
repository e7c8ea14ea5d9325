// Package heap puts ctl's heap on huge pages (package hugeheap) from its
// init. Go initializes packages in the order of their import paths, each
// after its imports: this one, with only hugeheap below it, comes before
// the packages that allocate most (the moby client's, cobra's). A ctl that
// stays (logs -f, events, an attached run) keeps its 2 MB page as long.
package heap

import "github.com/berthd/berth/pkg/hugeheap"

func init() { hugeheap.Use() }
