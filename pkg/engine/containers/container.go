// Package containers is the engine's container store and its Docker
// semantics: names, create/start/attach/wait/stop/kill/remove, autoremove,
// and the watcher that learns exits from the supervisor.
package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/trace"
)

// State is the engine's view of a container's process.
type State struct {
	Status     container.ContainerState
	Running    bool
	Paused     bool
	Restarting bool
	Pid        int
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is nil for a container without a check (or never started);
	// it is replaced, never modified, so snapshots may share it.
	Health *container.Health `json:",omitempty"`
}

// Container is what the engine persists per container, in
// DATA_ROOT/containers/<id>/config.v2.json.
type Container struct {
	ID         string
	Name       string // with the leading "/"
	Created    time.Time
	Path       string
	Args       []string
	Config     *container.Config
	HostConfig *container.HostConfig
	ImageName  string // the reference as given by the user
	ImageID    string // config digest
	Runtime    string
	State      State
	// RestartCount counts restarts by the restart policy since the last
	// start by a user; HasBeenManuallyStopped keeps a stop or kill by a
	// user from being undone by the policy (also across engine restarts).
	RestartCount           int
	HasBeenManuallyStopped bool

	LogPath, HostnamePath, HostsPath, ResolvConfPath string
	// MountPoints are the container's binds, volumes and tmpfs mounts.
	MountPoints []*volume.MountPoint `json:",omitempty"`

	// Not persisted.
	mu        *sync.Mutex      `json:"-"`
	exited    chan struct{}    `json:"-"` // closed at the next exit, then replaced
	removed   chan struct{}    `json:"-"` // closed once removed
	trace     *trace.Trace     `json:"-"` // of the last start (nil: untraced)
	attachers []*pendingAttach `json:"-"`
	removing  bool             `json:"-"`
	// starting: a start is between its first step and its running record;
	// the stale-task sweep leaves the container's task alone.
	starting bool `json:"-"`
	// ahead is the task being made or made ahead of the first start.
	ahead *taskAhead `json:"-"`
	// removeVolumes: the removal takes the anonymous volumes (rm -v).
	removeVolumes bool   `json:"-"`
	dir           string `json:"-"`
	// restartDelay is the policy's current backoff; cancelRestart stops a
	// pending restart.
	restartDelay  time.Duration `json:"-"`
	cancelRestart chan struct{} `json:"-"`
	execs         []string      `json:"-"`

	health *healthMonitor `json:"-"` // the running check loop, if any
}

type pendingAttach struct {
	ctx            context.Context
	stdout, stderr bool
	ch             chan attachResult
}

type attachResult struct {
	out Output
	err error
}

func newContainer(dir string) *Container {
	return &Container{mu: new(sync.Mutex), dir: dir, exited: make(chan struct{}), removed: make(chan struct{})}
}

// snapshot returns a copy safe to read without the lock.
func (c *Container) snapshot() Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Container{
		ID: c.ID, Name: c.Name, Created: c.Created, Path: c.Path, Args: c.Args,
		Config: c.Config, HostConfig: c.HostConfig, ImageName: c.ImageName, ImageID: c.ImageID,
		Runtime: c.Runtime, State: c.State, RestartCount: c.RestartCount, HasBeenManuallyStopped: c.HasBeenManuallyStopped,
		execs: append([]string(nil), c.execs...), LogPath: c.LogPath, HostnamePath: c.HostnamePath,
		HostsPath: c.HostsPath, ResolvConfPath: c.ResolvConfPath, MountPoints: c.MountPoints,
	}
}

// saveLocked writes config.v2.json atomically; c.mu is held.
func (c *Container) saveLocked() error {
	st, err := c.stageLocked()
	if err != nil {
		return err
	}
	return st.Commit()
}

// saveSyncLaterLocked writes the record as saveLocked does but leaves its
// syncs to the returned function (atomicfile.WriteFileSyncLater). c.mu is
// held.
func (c *Container) saveSyncLaterLocked() (func() error, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return atomicfile.WriteFileSyncLater(filepath.Join(c.dir, "config.v2.json"), data, 0o600)
}

// stageLocked writes and syncs config.v2.json beside its place; the
// result's Commit puts it there. c.mu is held.
func (c *Container) stageLocked() (*atomicfile.Staged, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return atomicfile.Stage(filepath.Join(c.dir, "config.v2.json"), data, 0o600)
}

func loadContainer(dir string) (*Container, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.v2.json"))
	if err != nil {
		return nil, err
	}
	c := newContainer(dir)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", dir, err)
	}
	return c, nil
}

// FormatTime is docker's time format in inspect ("0001-01-01T00:00:00Z" for
// never).
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ExecIDs lists the container's execs.
func (c *Container) ExecIDs() []string { return c.execs }
