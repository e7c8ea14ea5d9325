package shim

import (
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim/record"
)

// DeleteArg is the first argument that makes the shim binary clean up
// after a shim of the same container that died (containerd's runtime v2
// `shim delete`): `shim delete --id ID --bundle DIR --runtime BINARY
// [--runtime-root DIR] [--runtime-arg ARG ...] --state-dir DIR [--socket PATH]`.
const DeleteArg = "delete"

// Cleanup does what a dead shim can no longer do for its container: it
// runs `runtime delete --force` (which kills whatever of the container
// still runs and removes its cgroup and runtime state), reads the exit
// status the dead shim recorded (255 when it recorded none: nobody saw the
// container exit). It may run again with the same status: the state
// directory stays for its maker to remove once it has persisted the
// status, so that a crash in between loses nothing. The caller learns the
// exit status from here and never runs the runtime nor reads the shim's
// files itself.
func Cleanup(cfg Config) (record.Exit, error) {
	if cfg.ID == "" || cfg.Runtime == "" || cfg.StateDir == "" {
		return record.Exit{}, fmt.Errorf("shim delete: id, runtime and state dir are required")
	}
	if cfg.Socket != "" {
		// Never behind the back of a live shim.
		if c, err := net.DialTimeout("unix", cfg.Socket, time.Second); err == nil {
			c.Close()
			return record.Exit{}, fmt.Errorf("shim delete: the shim of %s still answers on %s: %w", cfg.ID, cfg.Socket, errdefs.ErrFailedPrecondition)
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return record.Exit{}, fmt.Errorf("shim delete: %w", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	reaper := NewReaper()
	if err := reaper.Run(stop); err != nil {
		return record.Exit{}, err
	}
	rt := &runtimeCLI{
		binary: cfg.Runtime, root: cfg.RuntimeRoot, args: cfg.RuntimeArgs,
		log: filepath.Join(cfg.StateDir, record.RuntimeLogFile), reaper: reaper, mask: DefaultMasks(cfg.Runtime),
	}
	if err := rt.run(nil, "delete", "--force", cfg.ID); err != nil {
		// Nothing left to delete (the runtime's state is gone) is the
		// usual case after a crash mid-create; the record below is still
		// what the caller needs.
		log.Printf("shim delete %s: %v", cfg.ID, err)
	}
	rec, ok := record.ReadExit(cfg.StateDir)
	if !ok {
		rec = record.UnknownExit()
	}
	return rec, nil
}
