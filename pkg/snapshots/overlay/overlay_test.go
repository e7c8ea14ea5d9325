package overlay

import (
	"testing"

	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/testsuite"
)

func TestConformance(t *testing.T) {
	testsuite.Run(t, func(root string) (snapshots.Snapshotter, error) { return New(root) })
}
