package api_test

import (
	"testing"

	"github.com/berthd/berth/pkg/engine/api/apitest"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
)

// The engine API's suite on the in-memory fake supervisor; test/integration
// runs the same suite on a real one (TestEngineAPISuite).
func TestSuiteFake(t *testing.T) {
	apitest.Run(t, func(*testing.T) containers.Supervisor { return containerstest.New() })
}
