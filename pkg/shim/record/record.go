// Package record is what a shim leaves on disk and what its callers may
// rely on: the names of the files in its state directory, its exit record
// and the limit on its socket's path. It links no RPC transport, so that
// whoever needs these (the shim, its launcher, a test) does not pull in the
// shim's server.
package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Files in a shim's state directory.
const (
	InitPidFile    = "init.pid"    // the container init's pid, written by the runtime
	RuntimeLogFile = "runtime.log" // the runtime's JSON log
	ExitFile       = "exit.json"   // the Exit record
	ShimLogFile    = "shim.log"    // the shim's own stderr
	ShimPidFile    = "shim.pid"    // the shim's pid
)

// Exit is the content of StateDir/exit.json, written atomically once the
// container's init has exited and its output is drained. `shim delete`
// prints it as JSON too.
type Exit struct {
	Pid        uint32 `json:"pid"`
	ExitStatus uint32 `json:"exit_status"`
	// RFC 3339 with nanoseconds.
	ExitedAt  time.Time `json:"exited_at"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
}

// UnknownExit is the status of a container nobody saw exit (its shim died
// first): 255, as containerd reports it.
func UnknownExit() Exit {
	return Exit{ExitStatus: 255, ExitedAt: time.Now().UTC()}
}

// WriteExit persists e in stateDir atomically. The state directory is on
// /run (tmpfs) and the record outlives the shim, not a reboot (which ends the
// container too): it is replaced without fsync, which would only delay the
// exit's report.
func WriteExit(stateDir string, e Exit) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := atomicfile.Replace(filepath.Join(stateDir, ExitFile), b, 0o600); err != nil {
		return fmt.Errorf("persist exit status: %w", err)
	}
	return nil
}

// ReadExit reads the exit record in stateDir; ok is false when there is
// none (the container had not exited, or its shim died before writing it).
func ReadExit(stateDir string) (e Exit, ok bool) {
	b, err := os.ReadFile(filepath.Join(stateDir, ExitFile))
	if err != nil || json.Unmarshal(b, &e) != nil {
		return Exit{}, false
	}
	return e, true
}

// MaxSocketPath is the longest unix socket path the kernel accepts
// (sun_path is 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// SpareArg is the first argument of a spare shim: one started before its
// container is known, which waits for its other arguments on fd 4 (see
// pkg/shim/client.Spare and docs/shim.md).
const SpareArg = "spare"

// SpareConnArg tells a spare shim that fd 5 is one end of a connected
// stream socket pair whose other end its launcher keeps: once handed its
// container, it serves the shim API on that connection too, so that the
// launcher's first call (Create) goes out without waiting for the
// readiness line and a connection to the socket. A shim older than this
// argument refuses it, and its launcher then starts a shim anew.
const SpareConnArg = "--connected"

// SpareStandbyArg, with berth's runtime after it, has a spare shim start a
// standby of that runtime while it waits (`shim spare --standby RUNTIME`).
const SpareStandbyArg = "--standby"

// CheckSocketPath reports whether path can be a unix socket address.
func CheckSocketPath(path string) error {
	if path == "" {
		return fmt.Errorf("socket path is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(path) > MaxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than the unix socket limit of %d: %w",
			path, len(path), MaxSocketPath, errdefs.ErrInvalidArgument)
	}
	return nil
}

// TraceFile is where the shim serving socket leaves the spans of its last
// traced call, for its caller to read after the answer (ttrpc answers carry
// no metadata). It goes with the socket.
func TraceFile(socket string) string { return socket + ".trace" }
