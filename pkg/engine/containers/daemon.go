package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/atomicfile"
	enet "github.com/berthd/berth/pkg/engine/network"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/engine/userns"
	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/trace"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Daemon holds the engine's containers.
type Daemon struct {
	sup  Supervisor
	root string // DATA_ROOT/containers
	log  *slog.Logger

	mu         sync.Mutex
	containers map[string]*Container // by id
	names      map[string]string     // "/name" -> id

	events eventLog
	execs  execStore
	acct   accountsCache // image account files by chain ID
	// pruning is set while a container prune runs (one at a time).
	pruning atomic.Bool

	vols          *volume.Store
	net           *enet.Manager // nil: loopback-only namespaces (unit tests)
	initPath      string        // docker-init for --init ("" looks it up)
	initDefault   bool          // every container gets the init unless it says no
	remap         *userns.Remap // --userns-remap; nil: containers share the host's user namespace
	systemdCgroup bool          // --exec-opt native.cgroupdriver=systemd

	sysMu sync.Mutex
	sys   *oci.System // the host's support, asked of the supervisor once (system.go)

	// aheadLinger: how long a task made ahead waits for its start (0:
	// none are made, ahead.go); ahead counts those not taken yet (mu).
	aheadLinger time.Duration
	ahead       int
	// removals are the supervisor's parts of --rm removals under way
	// (autoremove.go), each closed when done; rmDelay puts each off.
	removals map[string]chan struct{}
	rmDelay  time.Duration

	wg sync.WaitGroup // watchers, autoremoves
	// ctx ends watchers at Close (containers keep running).
	ctx    context.Context
	cancel context.CancelFunc
}

// New opens the container store under dataRoot and reconciles it with the
// supervisor: watchers are re-established for running containers.
func New(ctx context.Context, sup Supervisor, dataRoot string, log *slog.Logger, opts ...Option) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	root := filepath.Join(dataRoot, "containers")
	if err := os.MkdirAll(root, 0o710); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &Daemon{sup: sup, root: root, log: log, containers: map[string]*Container{}, names: map[string]string{}, ctx: dctx, cancel: cancel,
		removals: map[string]chan struct{}{}, rmDelay: AutoRemoveDelay}
	for _, o := range opts {
		o(d)
	}
	if err := d.letRemappedRootIn(root); err != nil {
		cancel()
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var partial []string // dirs of creates that did not finish
	for _, e := range ents {
		if !e.IsDir() || e.Name() == discardedDir {
			continue
		}
		dir := filepath.Join(root, e.Name())
		c, err := loadContainer(dir)
		if errors.Is(err, os.ErrNotExist) {
			partial = append(partial, dir)
			continue
		}
		if err != nil {
			log.Warn("skipping container state", "dir", e.Name(), "err", err)
			continue
		}
		d.containers[c.ID] = c
		d.names[c.Name] = c.ID
	}
	// Directories of removed containers a stop or crash left behind.
	if err := os.RemoveAll(filepath.Join(root, discardedDir)); err != nil {
		log.Warn("removing the directories of removed containers", "err", err)
	}
	d.reconcile(ctx, partial)
	d.restoreVolumes()
	d.netReconcile()
	for _, c := range d.containers {
		d.restore(ctx, c)
	}
	d.watchSupervisorEvents()
	return d, nil
}

// reconcile makes the engine's records and the supervisor's containers
// agree after a crash: a supervisor container the engine has no record of
// (a create or remove cut short) is deleted with its task and snapshot; a
// record whose supervisor container is gone (a remove cut short) is dropped.
func (d *Daemon) reconcile(ctx context.Context, partial []string) {
	ids, err := d.sup.ListContainers(ctx)
	if err != nil {
		d.log.Warn("cannot reconcile containers with the supervisor", "err", err)
		return
	}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
		if _, ok := d.containers[id]; ok {
			continue
		}
		d.log.Warn("removing supervisor container the engine has no record of", "id", id)
		if err := d.sup.DeleteTask(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("delete orphan task", "id", id, "err", err)
		}
		if err := d.sup.DeleteContainer(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("delete orphan container", "id", id, "err", err)
		}
	}
	for id, c := range d.containers {
		if known[id] {
			continue
		}
		d.log.Warn("dropping container whose supervisor record is gone", "id", id, "name", c.Name)
		d.shmDown(c)
		os.RemoveAll(c.dir)
		delete(d.containers, id)
		if d.names[c.Name] == id {
			delete(d.names, c.Name)
		}
	}
	for _, dir := range partial {
		os.RemoveAll(dir)
	}
}

// forgetSupervised deletes, in the background, the supervisor's container
// id after a create whose supervisor call failed: the supervisor may have
// made the record and snapshot before it failed or died (the answer lost).
// The ID is new and was never the engine's, so it is nobody's. It tries
// for a while (supervisord restarting) as long as the daemon runs;
// reconcile at the next start deletes what is left.
func (d *Daemon) forgetSupervised(id string) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		var err error
		for range 10 {
			if err = d.sup.DeleteContainer(d.ctx, id); err == nil || errdefs.IsNotFound(err) {
				return
			}
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		d.log.Warn("delete the supervisor container of a failed create", "id", id, "err", err)
	}()
}

// Close stops the watchers; the containers keep running.
func (d *Daemon) Close() {
	d.cancel()
	d.wg.Wait()
}

func (d *Daemon) restore(ctx context.Context, c *Container) {
	c.mu.Lock()
	running := c.State.Running
	// A restart pending when the engine stopped, or a container of an
	// always-restart policy: the policy still holds.
	startIt := !running && (c.State.Restarting || restartAtBoot(c))
	c.mu.Unlock()
	if startIt {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.start(d.ctx, c, true); err != nil {
				d.log.Warn("restart policy: start after engine restart", "id", c.ID, "err", err)
			}
		}()
		return
	}
	if !running {
		d.shmDown(c) // left mounted by an engine killed before the exit
		d.dropStaleTask(ctx, c)
		return
	}
	t, err := d.sup.GetTask(ctx, c.ID)
	switch {
	case err == nil && (t.GetStatus() == supervisorv1.TaskStatus_TASK_STATUS_RUNNING || t.GetStatus() == supervisorv1.TaskStatus_TASK_STATUS_PAUSED):
		c.mu.Lock()
		c.State.Pid = int(t.GetPid())
		c.State.Paused = t.GetStatus() == supervisorv1.TaskStatus_TASK_STATUS_PAUSED
		if c.State.Paused {
			c.State.Status = container.StatePaused
		} else {
			d.initHealthLocked(c)
		}
		c.mu.Unlock()
		d.watch(c)
	case err == nil:
		// Exited while we were away: record it now, before the API serves,
		// so that no client sees it running after the restart.
		d.exited(c, int(t.GetExitStatus()), unixTime(t.GetExitedAt()), t.GetOomKilled(), "")
	default:
		d.log.Warn("container lost its task", "id", c.ID, "err", err)
		d.exited(c, 255, time.Now(), false, "task not found after engine restart")
	}
}

// Get finds a container by full ID, name, or unique ID prefix.
func (d *Daemon) Get(ref string) (*Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.getLocked(ref)
}

func (d *Daemon) getLocked(ref string) (*Container, error) {
	if c, ok := d.containers[ref]; ok {
		return c, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := d.names[name]; ok {
		return d.containers[id], nil
	}
	if ref != "" {
		var found *Container
		for id, c := range d.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, &msgError{msg: "multiple IDs found with provided prefix: " + ref, class: errdefs.ErrInvalidArgument}
				}
				found = c
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, errNoSuchContainer(ref)
}

func errNoSuchContainer(ref string) error {
	return &msgError{msg: "No such container: " + ref, class: errdefs.ErrNotFound}
}

// msgError is an error whose message is exactly what dockerd says.
type msgError struct {
	msg   string
	class error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.class }

// CreateOptions is a create request.
type CreateOptions struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
	// NoTaskAhead: the container is not started next (the builder's
	// containers for a COPY): its task is not made ahead (ahead.go).
	NoTaskAhead bool
}

// NormalizeImageRef returns the supervisor's name for ref and the familiar
// form used in messages ("busybox:latest"). IDs pass through.
func NormalizeImageRef(ref string) (name, familiar string, err error) {
	if strings.HasPrefix(ref, "sha256:") || isHexPrefix(ref) {
		return ref, ref, nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", &msgError{msg: fmt.Sprintf("invalid reference format: %s", ref), class: errdefs.ErrInvalidArgument}
	}
	named = reference.TagNameOnly(named)
	return named.String(), reference.FamiliarString(named), nil
}

func isHexPrefix(s string) bool {
	if len(s) < 12 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Create makes a container: engine state, OCI spec, supervisor container.
func (d *Daemon) Create(ctx context.Context, o CreateOptions) (*Container, error) {
	defer trace.Begin(ctx, "create")()
	if o.Config == nil || o.Config.Image == "" {
		return nil, &msgError{msg: "No image specified", class: errdefs.ErrInvalidArgument}
	}
	if o.HostConfig == nil {
		o.HostConfig = &container.HostConfig{}
	}
	if o.HostConfig.AutoRemove && o.HostConfig.RestartPolicy.Name != "" && o.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
		return nil, &msgError{msg: "can't create 'AutoRemove' container with restart policy", class: errdefs.ErrInvalidArgument}
	}
	if err := ValidateRestartPolicy(o.HostConfig.RestartPolicy); err != nil {
		return nil, err
	}
	if err := ValidateHealthcheck(o.Config.Healthcheck); err != nil {
		return nil, err
	}
	if err := d.checkRuntime(ctx, o.HostConfig.Runtime); err != nil {
		return nil, err
	}
	if err := oci.Check(o.Config, o.HostConfig, o.NetworkingConfig); err != nil {
		return nil, err
	}
	if err := VerifyLogConfig(&o.HostConfig.LogConfig); err != nil {
		return nil, err
	}
	id := NewID()

	// Reserve the name first: a conflict must not cost an image lookup.
	d.mu.Lock()
	name := o.Name
	if name == "" {
		name = "/" + GenerateName(func(n string) bool { _, ok := d.names["/"+n]; return ok })
	} else {
		if err := ValidateName(name); err != nil {
			d.mu.Unlock()
			return nil, &msgError{msg: fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name), class: errdefs.ErrInvalidArgument}
		}
		if !strings.HasPrefix(name, "/") {
			name = "/" + name
		}
		if other, ok := d.names[name]; ok {
			d.mu.Unlock()
			return nil, &msgError{msg: fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other), class: errdefs.ErrConflict}
		}
	}
	d.names[name] = id
	d.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			d.mu.Lock()
			delete(d.names, name)
			d.mu.Unlock()
		}
	}()

	imgName, familiar, err := NormalizeImageRef(o.Config.Image)
	if err != nil {
		return nil, err
	}
	endImage := trace.Begin(ctx, "image")
	img, err := d.sup.GetImage(ctx, imgName)
	if errdefs.IsNotFound(err) {
		return nil, &msgError{msg: "No such image: " + familiar, class: errdefs.ErrNotFound}
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", familiar, err)
	}
	dockerImg, err := d.sup.DockerImageConfig(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", familiar, err)
	}
	imgCfg := ociImage(dockerImg)
	endImage()

	dir := filepath.Join(d.root, id)
	if err := os.MkdirAll(dir, 0o710); err == nil {
		err = d.letRemappedRootIn(dir)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	c := newContainer(dir)
	c.ID, c.Name, c.Created = id, name, time.Now().UTC()
	c.ImageName, c.ImageID = o.Config.Image, img.GetConfig().GetDigest()
	c.HostConfig = o.HostConfig
	c.Runtime = o.HostConfig.Runtime
	c.LogPath = inspectLogPath(dir, id, o.HostConfig.LogConfig)
	c.HostnamePath = filepath.Join(dir, "hostname")
	c.HostsPath = filepath.Join(dir, "hosts")
	c.ResolvConfPath = filepath.Join(dir, "resolv.conf")

	// The image's EXPOSE is the container's too (-P publishes it, links
	// announce it, inspect shows it), as with dockerd.
	o.Config = withImagePorts(o.Config, imgCfg.Config.ExposedPorts)
	if err := d.checkLinks(o.HostConfig); err != nil {
		return nil, err
	}
	netns, netSaved, err := d.netPrepare(id, name, o.Config, o.HostConfig, o.NetworkingConfig)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			_ = netSaved() // its file is written before Forget removes it
			d.netForget(id)
		}
	}()
	// The user is resolved in the image's files: the container's snapshot
	// is made from them only later, by NewContainer.
	accounts, err := d.imageAccounts(ctx, img.GetChainId())
	if err != nil {
		return nil, err
	}
	// The stored Config is the merged one, as docker's inspect shows it.
	cfg := *o.Config
	mps, mounts, undoMounts, err := d.planMounts(&cfg, o.HostConfig, imgCfg.Config.Volumes)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			undoMounts()
		}
	}()
	c.MountPoints = mps
	endSpec := trace.Begin(ctx, "spec")
	spec, err := d.spec(c, &cfg, o.HostConfig, imgCfg, accounts, mounts, netns)
	endSpec()
	if err != nil {
		return nil, err
	}
	if p, err := rootfsPropagation(mps); err != nil {
		return nil, err
	} else if p != "" {
		spec.Linux.RootfsPropagation = p
	}
	cfg.Env = spec.Process.Env
	if len(cfg.Cmd) == 0 && len(cfg.Entrypoint) == 0 {
		cfg.Cmd = imgCfg.Config.Cmd
	}
	if cfg.Entrypoint == nil {
		cfg.Entrypoint = imgCfg.Config.Entrypoint
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = imgCfg.Config.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = imgCfg.Config.User
	}
	cfg.Healthcheck = MergeHealthcheck(cfg.Healthcheck, dockerImg.Config.Healthcheck)
	c.Config = &cfg
	c.Path, c.Args = spec.Process.Args[0], spec.Process.Args[1:]

	if !o.HostConfig.NetworkMode.IsContainer() {
		if err := d.makeEtcFiles(c, cfg.Hostname, cfg.Domainname, o.HostConfig); err != nil {
			return nil, err
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{"berth.engine/name": strings.TrimPrefix(name, "/")}
	// The record is written and synced beside the supervisor's call, and
	// put in place only once the supervisor's container exists: a crash
	// never leaves an engine record whose container is half made.
	c.State.Status = container.StateCreated
	type staged struct {
		f   *atomicfile.Staged
		err error
	}
	stagedc := make(chan staged, 1)
	go func() {
		c.mu.Lock()
		f, err := c.stageLocked()
		c.mu.Unlock()
		stagedc <- staged{f, err}
	}()
	endSnap := trace.Begin(ctx, "snapshot and container")
	err = d.sup.NewContainer(ctx, id, img, specJSON, c.Runtime, labels)
	endSnap()
	rec := <-stagedc
	if err != nil {
		if rec.err == nil {
			rec.f.Abort()
		}
		if !errdefs.IsAlreadyExists(err) {
			d.forgetSupervised(id)
		}
		return nil, err
	}
	failpoint.Hit("engine-create-supervised")
	// The network record, written meanwhile, is on disk before the
	// container's own: a crash never leaves a container without it.
	err = rec.err
	if err == nil {
		if err = netSaved(); err != nil {
			rec.f.Abort()
		}
	}
	if err == nil {
		err = rec.f.Commit()
	}
	if err != nil {
		d.sup.DeleteContainer(context.WithoutCancel(ctx), id)
		return nil, err
	}
	failpoint.Hit("engine-create-recorded")
	d.mu.Lock()
	d.containers[id] = c
	d.mu.Unlock()
	ok = true
	d.emit(c, events.ActionCreate, nil)
	if !o.NoTaskAhead {
		d.makeAhead(ctx, c)
	}
	return c, nil
}

// Start creates and starts the container's task. Attach requests waiting for
// the start get their output streams between the two.
func (d *Daemon) Start(ctx context.Context, ref string) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	return d.start(ctx, c, false)
}

// start starts c; byPolicy is a restart by the restart policy, which counts
// it, where a user's start resets the count.
func (d *Daemon) start(ctx context.Context, c *Container, byPolicy bool) error {
	defer trace.Begin(ctx, "start")()
	c.mu.Lock()
	c.trace = trace.FromContext(ctx) // the exit and the removal are its spans too
	if c.cancelRestart != nil && !byPolicy {
		close(c.cancelRestart)
		c.cancelRestart = nil
	}
	if c.State.Running {
		c.mu.Unlock()
		return nil // docker answers 304; callers treat it as success
	}
	if c.removing {
		c.mu.Unlock()
		return &msgError{msg: fmt.Sprintf("container %s is marked for removal and cannot be started", c.ID), class: errdefs.ErrConflict}
	}
	if c.starting {
		c.mu.Unlock()
		return &msgError{msg: fmt.Sprintf("container %s is already being started", c.ID), class: errdefs.ErrConflict}
	}
	c.starting = true
	tty, stdin := c.Config.Tty, c.Config.OpenStdin
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.starting = false
		c.mu.Unlock()
	}()

	// A task made ahead (ahead.go) had the etc files and /dev/shm readied
	// before its create; a container made ahead has no peers or volumes.
	ahead := d.claimAhead(c)
	endNet := trace.Begin(ctx, "network and volumes")
	var err error
	if ahead == nil {
		err = d.startPrep(ctx, c)
	}
	var netDone <-chan error
	if err == nil {
		if netDone, err = d.netUp(ctx, c); err != nil {
			d.volumesDown(c)
		}
	}
	endNet()
	var t *supervisorv1.Task
	if err == nil {
		if t, err = d.startTask(ctx, c, tty, stdin, netDone, ahead); err != nil {
			d.netDetach(c)
			d.volumesDown(c)
		}
	} else if ahead != nil {
		d.undoAhead(ctx, c, ahead)
	}
	if err != nil {
		d.shmDown(c)
		// As dockerd: the attached clients are told, and a container
		// meant to be removed at exit is removed now.
		d.failAttachers(c, err)
		c.mu.Lock()
		c.State.Error = err.Error()
		auto := c.HostConfig != nil && c.HostConfig.AutoRemove
		c.mu.Unlock()
		if auto {
			if rerr := d.remove(context.WithoutCancel(ctx), c); rerr != nil {
				d.log.Error("autoremove after failed start", "id", c.ID, "err", rerr)
			}
		}
		return err
	}
	c.mu.Lock()
	c.State = State{Status: container.StateRunning, Running: true, Pid: int(t.GetPid()), StartedAt: time.Now().UTC(), Health: c.State.Health}
	// Attach requests that came while the task was being started (after
	// startTask took the last ones, before Running): from here on they
	// attach directly (PrepareAttach), these now.
	late := c.attachers
	c.attachers = nil
	d.initHealthLocked(c)
	c.HasBeenManuallyStopped = false
	if byPolicy {
		c.RestartCount++
	} else {
		c.RestartCount = 0
		c.restartDelay = 0
	}
	c.mu.Unlock()
	for _, p := range late {
		go func() {
			out, err := d.sup.AttachTask(p.ctx, c.ID, p.stdout, p.stderr)
			p.ch <- attachResult{out: out, err: err}
		}()
	}
	// start before the watcher can report a die, however fast the exit.
	d.emit(c, events.ActionStart, nil)
	d.watch(c)
	// Persisted once the watch is set: the wait for a fast exit no longer
	// comes after this write. c.mu orders it with the exit's own save,
	// each writing the state as it is then; a container being removed
	// (--rm after a fast exit) has no record left to write. Written before
	// the answer (an engined killed after it finds the container running,
	// not a start cut short: dropStaleTask), synced after it: what the
	// sync adds matters only to a power loss in the milliseconds until it
	// is done, after which no task runs and only a restart policy reads
	// the record (the two syncs were 1-2.5 ms of every start here).
	c.mu.Lock()
	var sync func() error
	if !c.removing {
		var err error
		if sync, err = c.saveSyncLaterLocked(); err != nil {
			d.log.Error("persist container", "id", c.ID, "err", err)
		}
	}
	c.mu.Unlock()
	if sync != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := sync(); err != nil {
				d.log.Warn("persist container", "id", c.ID, "err", err)
			}
		}()
	}
	return nil
}

// startPrep readies what c's task is made from: its etc files, the peers
// it joins, its /dev/shm and volumes.
func (d *Daemon) startPrep(ctx context.Context, c *Container) error {
	err := d.repairEtcFiles(c)
	if err == nil {
		err = d.rejoinPeers(ctx, c)
	}
	if err == nil {
		err = d.shmUp(c)
	}
	if err == nil {
		err = d.volumesUp(ctx, c)
	}
	return err
}

// startTask creates and starts c's task, or only starts the one made
// ahead; netDone, when not nil, ends the network's set-up going on beside
// the create (netUp), which the start waits for.
func (d *Daemon) startTask(ctx context.Context, c *Container, tty, stdin bool, netDone <-chan error, ahead *taskAhead) (*supervisorv1.Task, error) {
	netErr := func() error {
		if netDone == nil {
			return nil
		}
		err := <-netDone
		netDone = nil
		return err
	}
	defer netErr() // a failed create's caller detaches once the attach is over
	c.mu.Lock()
	tl, err := taskLog(c)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	endCreate := trace.Begin(ctx, "task create")
	// The attach requests waiting for this start go out beside the create:
	// the supervisor attaches them once the task exists, instead of a round
	// trip of its own between the create and the start.
	att := d.attachAhead(c)
	made := awaitAhead(ctx, ahead)
	if ahead != nil && !made {
		// Its create failed: this one starts from the beginning (and
		// reports the create's error if it fails again).
		att.abort()
		if err := d.startPrep(ctx, c); err != nil {
			return nil, err
		}
		att = d.attachAhead(c)
	}
	if !made {
		if att, err = d.createTask(ctx, c, tl, tty, stdin, att, netErr); err != nil {
			return nil, err
		}
	}
	failpoint.Hit("engine-start-task-created")
	endCreate()
	if err := netErr(); err != nil {
		att.abort()
		_ = d.sup.DeleteTask(context.WithoutCancel(ctx), c.ID, true)
		return nil, err
	}
	endAttach := trace.Begin(ctx, "attach streams")
	att.deliver()
	// Those that came during the create: the task is there.
	d.attachAhead(c).deliver()
	endAttach()
	endStart := trace.Begin(ctx, "task start")
	t, err := d.sup.StartTask(ctx, c.ID)
	endStart()
	if err != nil {
		_ = d.sup.DeleteTask(context.WithoutCancel(ctx), c.ID, true)
		return nil, fmt.Errorf("start: %w", err)
	}
	failpoint.Hit("engine-start-task-started")
	return t, nil
}

// createTask creates c's task, the attaches att going out beside it; a
// stale task of an earlier run is replaced (att then made again).
func (d *Daemon) createTask(ctx context.Context, c *Container, tl TaskLog, tty, stdin bool, att *attaches, netErr func() error) (*attaches, error) {
	err := d.sup.CreateTask(ctx, c.ID, tl, tty, stdin)
	if err == nil {
		return att, nil
	}
	att.abort()
	if !errdefs.IsAlreadyExists(err) {
		// Whatever a failed create left (the supervisor should leave
		// nothing) goes now.
		_ = d.sup.DeleteTask(context.WithoutCancel(ctx), c.ID, true)
		// A network that failed took the namespace away under the
		// create: its error is the one to tell.
		if nerr := netErr(); nerr != nil {
			return nil, nerr
		}
		return nil, fmt.Errorf("create task: %w", err)
	}
	// A stale stopped task from an earlier run: replace it. (The attaches
	// above may have found the stale one: made again.)
	_ = d.sup.DeleteTask(ctx, c.ID, true)
	if err := d.sup.CreateTask(ctx, c.ID, tl, tty, stdin); err != nil {
		if nerr := netErr(); nerr != nil {
			return nil, nerr
		}
		return nil, fmt.Errorf("create task: %w", err)
	}
	return d.attachAhead(c), nil
}

// attaches are the attach requests of a start, made beside its task's
// create (attachAhead).
type attaches struct {
	c     *Container
	calls []*attachCall
}

type attachCall struct {
	p      *pendingAttach
	cancel context.CancelFunc // ends the attach: only when it is not handed over
	done   chan struct{}
	res    attachResult
}

// attachAhead takes c's pending attach requests and attaches them to the
// task being created beside (Supervisor.AttachCreatingTask); deliver hands
// each its output, abort gives them back to c.
func (d *Daemon) attachAhead(c *Container) *attaches {
	c.mu.Lock()
	pending := c.attachers
	c.attachers = nil
	c.mu.Unlock()
	a := &attaches{c: c}
	for _, p := range pending {
		ctx, cancel := context.WithCancel(p.ctx)
		call := &attachCall{p: p, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(call.done)
			out, err := d.sup.AttachCreatingTask(ctx, c.ID, p.stdout, p.stderr)
			call.res = attachResult{out: out, err: err}
		}()
		a.calls = append(a.calls, call)
	}
	return a
}

// deliver waits for the attaches and hands each request its result.
func (a *attaches) deliver() {
	for _, call := range a.calls {
		<-call.done
		call.p.ch <- call.res
	}
	a.calls = nil
}

// abort ends the attaches (a create that failed, or a task made again) and
// puts their requests back in front of c's, for failAttachers or the next
// attachAhead.
func (a *attaches) abort() {
	back := make([]*pendingAttach, 0, len(a.calls))
	for _, call := range a.calls {
		call.cancel()
		<-call.done
		back = append(back, call.p)
	}
	a.calls = nil
	a.c.mu.Lock()
	a.c.attachers = append(back, a.c.attachers...)
	a.c.mu.Unlock()
}

// failAttachers ends the attach requests waiting for a start that failed.
func (d *Daemon) failAttachers(c *Container, err error) {
	c.mu.Lock()
	pending := c.attachers
	c.attachers = nil
	c.mu.Unlock()
	for _, p := range pending {
		p.ch <- attachResult{err: err}
	}
}

// watch waits for the task's exit in the background.
func (d *Daemon) watch(c *Container) {
	d.wg.Add(1)
	c.mu.Lock()
	ctx := trace.NewContext(d.ctx, c.trace)
	c.mu.Unlock()
	go func() {
		defer d.wg.Done()
		for {
			resp, err := d.sup.WaitTask(ctx, c.ID)
			if d.ctx.Err() != nil {
				return // engine shutting down; the container keeps running
			}
			if err != nil {
				if errdefs.IsUnavailable(err) {
					time.Sleep(time.Second)
					continue
				}
				d.log.Warn("wait task", "id", c.ID, "err", err)
				d.exited(c, 255, time.Now(), false, err.Error())
				return
			}
			d.exited(c, int(resp.GetExitStatus()), unixTime(resp.GetExitedAt()), resp.GetOomKilled(), "")
			return
		}
	}()
}

// unixTime reads a supervisor timestamp (unix nanoseconds; seconds accepted).
func unixTime(v int64) time.Time {
	switch {
	case v == 0:
		return time.Now().UTC()
	case v < 1e12:
		return time.Unix(v, 0).UTC()
	default:
		return time.Unix(0, v).UTC()
	}
}

// exited records an exit, deletes the task, wakes waiters and autoremoves.
func (d *Daemon) exited(c *Container, code int, at time.Time, oom bool, msg string) {
	c.mu.Lock()
	ctx := trace.NewContext(d.ctx, c.trace)
	c.mu.Unlock()
	endExit := trace.Begin(ctx, "exit (task delete, network down)")
	autoRemove := c.autoRemove()
	if !autoRemove { // else deleted in the background (autoRemove)
		if err := d.sup.DeleteTask(d.ctx, c.ID, false); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("delete task", "id", c.ID, "err", err)
			_ = d.sup.DeleteTask(d.ctx, c.ID, true)
		}
	}
	failpoint.Hit("engine-exit-task-deleted")
	if autoRemove {
		// No start can follow: interfaces and namespace go later.
		d.netDetachGone(c)
	} else {
		d.netDetach(c)
	}
	d.volumesDown(c)
	d.shmDown(c)
	c.mu.Lock()
	ranFor := at.Sub(c.State.StartedAt)
	c.State.Status = container.StateExited
	c.State.Running = false
	c.State.Paused = false
	c.State.Pid = 0
	c.State.ExitCode = code
	c.State.OOMKilled = oom
	c.State.Error = msg
	c.State.FinishedAt = at
	d.updateHealthLocked(c)
	delay, restart := c.nextRestartLocked(code, ranFor)
	if restart && d.ctx.Err() == nil {
		c.State.Restarting = true
		c.State.Status = container.StateRestarting
	}
	auto := c.HostConfig != nil && c.HostConfig.AutoRemove
	// A --rm container's record goes right after (autoRemove), so its exit
	// is not written first (a write and sync before the exit is reported).
	// Left saying running by a crash in between, it is found exited at
	// the next start, and removed then (restore).
	if !auto {
		if err := c.saveLocked(); err != nil {
			d.log.Error("persist container", "id", c.ID, "err", err)
		}
	}
	endExit() // the exit is reported from here
	close(c.exited)
	c.exited = make(chan struct{})
	c.mu.Unlock()
	failpoint.Hit("engine-exit-reported")
	d.emit(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(code)})
	if restart && d.ctx.Err() == nil {
		d.scheduleRestart(c, delay)
		return
	}
	if auto {
		d.autoRemove(context.WithoutCancel(ctx), c)
	}
}

// AttachOptions selects what Attach streams.
type AttachOptions struct {
	Stdout, Stderr bool
	Logs           bool // replay the log first
	Stream         bool // then stream live output
	// Stdin, when set, is copied to the container's stdin (if it was
	// created with OpenStdin); its end closes stdin for a StdinOnce
	// container. DetachKeys end the attach in a tty session (nil: none).
	Stdin      io.Reader
	DetachKeys []byte
}

// Attach writes the container's output to stdout and stderr until it exits
// (or ctx ends). For a container not started yet it waits for the start.
func (d *Daemon) Attach(ctx context.Context, ref string, o AttachOptions, stdout, stderr io.Writer) error {
	stream, err := d.PrepareAttach(ctx, ref, o)
	if err != nil {
		return err
	}
	return stream(stdout, stderr)
}

// PrepareAttach subscribes to the container's output at once (a start after
// it loses nothing) and returns the function that streams it. The API calls
// it before answering the attach request, after which clients start the
// container.
func (d *Daemon) PrepareAttach(ctx context.Context, ref string, o AttachOptions) (func(stdout, stderr io.Writer) error, error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	// A detach ends the attach early; the caller's ctx stays the outer bound.
	ctx, cancel := context.WithCancel(ctx)
	var (
		out     Output
		pending *pendingAttach
	)
	if o.Stream {
		c.mu.Lock()
		switch {
		case c.State.Running:
			c.mu.Unlock()
			if out, err = d.sup.AttachTask(ctx, c.ID, o.Stdout, o.Stderr); err != nil {
				cancel()
				return nil, err
			}
		case c.State.Status == container.StateCreated || c.State.Status == container.StateExited:
			pending = &pendingAttach{ctx: ctx, stdout: o.Stdout, stderr: o.Stderr, ch: make(chan attachResult, 1)}
			c.attachers = append(c.attachers, pending)
			c.mu.Unlock()
		default:
			c.mu.Unlock()
		}
	}
	return func(stdout, stderr io.Writer) error {
		defer cancel()
		if o.Logs {
			if err := d.Logs(ctx, c.ID, LogsOptions{Stdout: o.Stdout, Stderr: o.Stderr, Tail: -1}, stdout, stderr); err != nil {
				return err
			}
		}
		// Where dockerd records it: after the log replay, before the
		// stream, whether or not one was asked for.
		d.emit(c, events.ActionAttach, nil)
		if pending != nil {
			select {
			case r := <-pending.ch:
				if r.err != nil {
					return r.err
				}
				out = r.out
			case <-ctx.Done():
				c.mu.Lock()
				for i, q := range c.attachers {
					if q == pending {
						c.attachers = append(c.attachers[:i], c.attachers[i+1:]...)
						break
					}
				}
				c.mu.Unlock()
				return nil
			}
		}
		if out == nil {
			return nil
		}
		c.mu.Lock()
		openStdin, once, tty := c.Config.OpenStdin, c.Config.StdinOnce, c.Config.Tty
		c.mu.Unlock()
		if o.Stdin != nil && openStdin {
			var keys []byte
			if tty {
				keys = o.DetachKeys
			}
			// A tty's stdin outlives the client's end of it, as in dockerd:
			// the docker CLI detaches at the keys by closing its
			// connection, and closing stdin (StdinOnce) would end the
			// shell it meant to leave running.
			go d.pipeStdin(ctx, c.ID, "", o.Stdin, once && !tty, keys, func() {
				d.emit(c, events.ActionDetach, nil)
				cancel()
			})
		}
		for {
			m, err := out.Recv()
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			w := stdout
			if m.GetStream() == supervisorv1.AttachTaskResponse_STDERR {
				w = stderr
			}
			if _, err := w.Write(m.GetData()); err != nil {
				return nil // the client went away
			}
		}
	}, nil
}

// Wait blocks until condition holds and returns the exit code:
// "not-running" (default), "next-exit", or "removed".
func (d *Daemon) Wait(ctx context.Context, ref, condition string) (int, error) {
	wait, err := d.PrepareWait(ref, condition)
	if err != nil {
		return 0, err
	}
	return wait(ctx)
}

// PrepareWait registers a wait at once (the next exit counted is the one
// after this call) and returns the function that blocks for it. The API
// calls it before sending its response headers, after which clients start
// the container.
func (d *Daemon) PrepareWait(ref, condition string) (func(context.Context) (int, error), error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	exitedCh, removedCh := c.exited, c.removed
	running := c.State.Running
	c.mu.Unlock()
	var ch <-chan struct{}
	switch condition {
	case "", "not-running":
		if running {
			ch = exitedCh
		}
	case "next-exit":
		ch = exitedCh
	case "removed":
		ch = removedCh
	default:
		return nil, &msgError{msg: fmt.Sprintf("invalid condition: %q", condition), class: errdefs.ErrInvalidArgument}
	}
	return func(ctx context.Context) (int, error) {
		if ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.State.ExitCode, nil
	}, nil
}

// Kill signals the container's process.
func (d *Daemon) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running, paused := c.State.Running, c.State.Paused
	if running {
		c.stopRestartsLocked()
	}
	c.mu.Unlock()
	if !running {
		return &msgError{msg: fmt.Sprintf("cannot kill container: %s: container %s is not running", ref, c.ID), class: errdefs.ErrConflict}
	}
	if err := d.sup.KillTask(ctx, c.ID, uint32(sig)); err != nil {
		return err
	}
	d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if paused && sig == syscall.SIGKILL {
		// A frozen process dies only once thawed.
		d.thaw(ctx, c)
	}
	return nil
}

// StopOptions are a stop's signal and grace period before SIGKILL, each
// the container's own (StopSignal, StopTimeout) when not given, else
// SIGTERM and 10 s.
type StopOptions struct {
	Signal  string // "" for the container's
	Timeout *int   // nil for the container's
}

// Stop sends the stop signal, then SIGKILL after the timeout.
func (d *Daemon) Stop(ctx context.Context, ref string, o StopOptions) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	var given syscall.Signal
	if o.Signal != "" {
		// Checked before anything happens: a bad signal stops nothing.
		if given, err = ParseSignal(o.Signal); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.stopRestartsLocked()
	running, paused := c.State.Running, c.State.Paused
	exitedCh := c.exited
	sig := syscall.SIGTERM
	t := 10
	if c.Config != nil {
		if s, err := ParseSignal(c.Config.StopSignal); err == nil && c.Config.StopSignal != "" {
			sig = s
		}
		if c.Config.StopTimeout != nil {
			t = *c.Config.StopTimeout
		}
	}
	c.mu.Unlock()
	if given != 0 {
		sig = given
	}
	if o.Timeout != nil {
		t = *o.Timeout
	}
	if !running {
		return nil
	}
	defer d.emit(c, events.ActionStop, nil)
	if err := d.killTask(ctx, c.ID, sig, exitedCh); err != nil {
		return err
	}
	d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if paused {
		d.thaw(ctx, c)
	}
	if t >= 0 {
		select {
		case <-exitedCh:
			return nil
		case <-time.After(time.Duration(t) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case <-exitedCh:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := d.killTask(ctx, c.ID, syscall.SIGKILL, exitedCh); err != nil {
		return err
	}
	d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(syscall.SIGKILL))})
	select {
	case <-exitedCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove deletes a container; a running one only with force.
func (d *Daemon) Remove(ctx context.Context, ref string, force bool) error {
	return d.RemoveContainer(ctx, ref, force, false)
}

// RemoveContainer removes a container; removeVolumes also removes its
// anonymous volumes (rm -v).
func (d *Daemon) RemoveContainer(ctx context.Context, ref string, force, removeVolumes bool) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.removeVolumes = c.removeVolumes || removeVolumes
	running, exitedCh := c.State.Running, c.exited
	if running && !force {
		c.mu.Unlock()
		return &msgError{msg: fmt.Sprintf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name), class: errdefs.ErrConflict}
	}
	auto := c.HostConfig != nil && c.HostConfig.AutoRemove
	paused := c.State.Paused
	c.stopRestartsLocked()
	c.mu.Unlock()
	if running {
		if err := d.killTask(ctx, c.ID, syscall.SIGKILL, exitedCh); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		if paused {
			d.thaw(ctx, c)
		}
		select {
		case <-exitedCh:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("container %s did not exit after SIGKILL", c.ID)
		case <-ctx.Done():
			return ctx.Err()
		}
		if auto {
			// The watcher removes it; wait for that.
			c.mu.Lock()
			removedCh := c.removed
			c.mu.Unlock()
			select {
			case <-removedCh:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return d.remove(ctx, c)
}

func (d *Daemon) remove(ctx context.Context, c *Container) error {
	name, removedCh, ok := d.markRemoving(c)
	if !ok {
		select {
		case <-removedCh:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer trace.Begin(ctx, "remove")()
	d.dropAhead(ctx, c)
	if err := d.supervisorRemove(ctx, c.ID); err != nil {
		return d.unmarkRemoving(c, err)
	}
	return d.forget(c, name)
}

// markRemoving marks c as being removed and returns its name, fixed from
// here on (Rename refuses a removing container); when a removal is already
// under way, ok is false and removed is closed at its end.
func (d *Daemon) markRemoving(c *Container) (name string, removed chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removing {
		return "", c.removed, false
	}
	c.removing = true
	c.State.Status = container.StateRemoving
	d.stopHealthMonitorLocked(c)
	return c.Name, nil, true
}

// unmarkRemoving undoes markRemoving after a failed removal.
func (d *Daemon) unmarkRemoving(c *Container, err error) error {
	c.mu.Lock()
	c.removing = false
	c.State.Status = container.StateExited
	c.mu.Unlock()
	return err
}

// supervisorRemove deletes the container's task and supervisor container
// (its snapshot with it).
func (d *Daemon) supervisorRemove(ctx context.Context, id string) error {
	// The stale-task sweep may be deleting the same task: wait for it.
	for i := 0; ; i++ {
		err := d.sup.DeleteTask(ctx, id, true)
		if err == nil || errdefs.IsNotFound(err) {
			break
		}
		if !errdefs.IsFailedPrecondition(err) || i >= 100 {
			return fmt.Errorf("delete task: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.sup.DeleteContainer(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	failpoint.Hit("engine-remove-supervised")
	return nil
}

// forget removes what the engine holds of c, and c from its tables: from
// here on c is removed for every client.
func (d *Daemon) forget(c *Container, name string) error {
	d.netForget(c.ID)
	d.shmDown(c)
	if err := d.discard(c.dir); err != nil {
		return d.unmarkRemoving(c, err)
	}
	d.mu.Lock()
	delete(d.containers, c.ID)
	if d.names[name] == c.ID {
		delete(d.names, name)
	}
	d.mu.Unlock()
	c.mu.Lock()
	withVolumes := c.removeVolumes || c.HostConfig != nil && c.HostConfig.AutoRemove
	c.mu.Unlock()
	if withVolumes && d.vols != nil {
		d.removeAnonymousVolumes(c)
	}
	c.mu.Lock()
	close(c.removed)
	execs := c.execs
	c.mu.Unlock()
	d.execs.drop(execs)
	d.emit(c, events.ActionDestroy, nil)
	return nil
}

// List returns the containers, newest first; all includes stopped ones.
func (d *Daemon) List(all bool, limit int) []Container {
	d.mu.Lock()
	cs := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	var out []Container
	for _, c := range cs {
		s := c.snapshot()
		if !all && !s.State.Running {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Inspect returns a copy of the container, its state refreshed from the
// supervisor when running.
func (d *Daemon) Inspect(ctx context.Context, ref string) (Container, error) {
	c, err := d.Get(ref)
	if err != nil {
		return Container{}, err
	}
	s := c.snapshot()
	if s.State.Running {
		if t, err := d.sup.GetTask(ctx, c.ID); err == nil && t.GetPid() != 0 {
			s.State.Pid = int(t.GetPid())
		}
	}
	return s, nil
}

// Counts returns running, paused and stopped totals.
func (d *Daemon) Counts() (total, running, paused, stopped int) {
	for _, c := range d.List(true, 0) {
		total++
		switch {
		case c.State.Paused:
			paused++
		case c.State.Running:
			running++
		default:
			stopped++
		}
	}
	return
}

// Exited returns a channel closed at the container's next exit (for logs
// --follow).
func (c *Container) Exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.State.Running {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.exited
}

// Supervisor returns the supervisor the daemon uses.
func (d *Daemon) Supervisor() Supervisor { return d.sup }
