package integration

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine"
	"github.com/berthd/berth/pkg/engine/api/apitest"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/test/image"
)

// The engine API's suite (pkg/engine/api/apitest) on a real in-process
// supervisor with real shims and runtime: the unit tests run the same suite
// on the in-memory fake (TestSuiteFake), so a fake that drifts from the
// real supervisor fails one of the two.
func TestEngineAPISuite(t *testing.T) {
	apitest.Run(t, func(t *testing.T) containers.Supervisor {
		sv := newSvEnv(t, true)
		c, err := client.New(sv.cfg.Address, client.WithNamespace(engine.Namespace), client.WithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		sup := &containers.Remote{C: c}
		var buf bytes.Buffer
		if err := image.DockerArchive(&buf, "busybox:latest"); err != nil {
			t.Fatal(err)
		}
		if _, err := sup.Import(context.Background(), &buf, ""); err != nil {
			t.Fatal(err)
		}
		return sup
	})
}
