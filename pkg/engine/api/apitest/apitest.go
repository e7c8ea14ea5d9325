// Package apitest is the engine API's one suite of tests, run against
// every supervisor the engine can sit on: the in-memory fake of
// containerstest (unit tests, no root) and a real in-process supervisor
// with real shims and runtime (test/integration), so that the fake cannot
// drift from what it stands for. The tests drive the API with the official
// Docker Go client and run busybox commands that the fake also understands
// (see containerstest's run).
package apitest

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/pkg/engine/api"
	"github.com/berthd/berth/pkg/engine/api/apitest/apiclient"
	"github.com/berthd/berth/pkg/engine/containers"
)

// NewSupervisor returns a fresh supervisor for one test, holding the image
// busybox:latest (sh, echo, cat, sleep); it cleans up after itself with
// t.Cleanup.
type NewSupervisor func(t *testing.T) containers.Supervisor

// Env is an engine serving the API on a unix socket, over a supervisor.
type Env struct {
	*apiclient.C
	Root string // the engine's data root
	Sup  containers.Supervisor
	D    *containers.Daemon
}

// tests are the suite, by name.
var tests = []struct {
	name string
	fn   func(t *testing.T, e *Env)
}{
	{"CreateErrors", testCreateErrors},
	{"RunAttachWait", testRunAttachWait},
	{"AutoRemove", testAutoRemove},
	{"RemoveRunningAndRestart", testRemoveRunningAndRestart},
	{"KillStopWait", testKillStopWait},
	{"ListFilters", testListFilters},
	{"ImageInspectAndRemove", testImageInspectAndRemove},
	{"ImageLoadAndInfo", testImageLoadAndInfo},
	{"AttachHijack", testAttachHijack},
	{"TTYRawStream", testTTYRawStream},
	{"AttachStdin", testAttachStdin},
	{"Exec", testExec},
	{"PauseTopStats", testPauseTopStats},
	{"RestartPolicyOnFailure", testRestartPolicyOnFailure},
	{"RestartPolicyAlwaysAndStop", testRestartPolicyAlwaysAndStop},
	{"Events", testEvents},
}

// Run runs the suite, each test on an engine of its own over a supervisor
// of its own.
func Run(t *testing.T, newSup NewSupervisor) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, newSup(t)))
		})
	}
}

func newEnv(t *testing.T, sup containers.Supervisor) *Env {
	t.Helper()
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "be")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "e.sock")
	e := &Env{Root: filepath.Join(dir, "data"), Sup: sup}
	d, err := containers.New(context.Background(), sup, e.Root, nil)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	e.D = d
	l, err := net.Listen("unix", sock)
	if err != nil {
		d.Close()
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.New(d, api.Config{Version: "test", DataRoot: e.Root})}
	go srv.Serve(l)
	t.Cleanup(func() {
		// What a failed test left: a real supervisor's shims must not
		// outlive the test.
		for _, c := range e.D.List(true, 0) {
			if err := e.D.Remove(context.Background(), c.ID, true); err != nil {
				t.Errorf("cleanup: remove %s: %v", c.ID, err)
			}
		}
		srv.Close()
		e.D.Close()
		os.RemoveAll(dir)
	})
	// Registered after: closed before the cleanup above.
	e.C = apiclient.New(t, sock)
	return e
}
