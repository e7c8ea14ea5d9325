package shim

import (
	"testing"

	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// The calls warmed are the API's: a renamed call would silently leave
// its messages cold.
func TestWarmCodecsStartPathInAPI(t *testing.T) {
	methods := shimv1.File_berth_shim_v1_shim_proto.Services().Get(0).Methods()
	for _, name := range startPath {
		if methods.ByName(name) == nil {
			t.Errorf("%s is not a call of the shim API", name)
		}
	}
	WarmCodecs()
}
