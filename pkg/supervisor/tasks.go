package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/shim/client"
	"github.com/berthd/berth/pkg/shim/record"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/trace"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// taskFile, in the bundle, records what recovery needs to find the shim and
// clean up after it.
const taskFile = "berth-task.json"

type taskInfo struct {
	Namespace   string  `json:"namespace"`
	ID          string  `json:"id"`
	Runtime     Runtime `json:"runtime"`
	RuntimeRoot string  `json:"runtime_root"`
	Socket      string  `json:"socket"`
	ShimState   string  `json:"shim_state"`
}

type task struct {
	taskInfo
	bundle string
	shim   taskShim

	mu sync.Mutex
	// exited is set, and shim unusable, for a task whose shim died (found
	// dead at recovery, or seen dying): its resources are already cleaned
	// up, and it stays listed as stopped (until Delete, persisted in
	// STATE/stopped) so that its exit status can be read.
	exited   *record.Exit
	deleting bool // Delete stops the shim: its end is no death
	// monitorDone is closed when the goroutine that waits for the task's
	// exit has published it (or given up).
	monitorDone chan struct{}
	// createdPid is init's pid from the shim's Create answer.
	createdPid uint32
}

// exitRecord is the record of a task whose shim is gone, or nil.
func (t *task) exitRecord() *record.Exit {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exited
}

func errExited(id string) error {
	return fmt.Errorf("task %s has exited: %w", id, errdefs.ErrFailedPrecondition)
}

type taskManager struct {
	s        *Server
	shims    shimLauncher
	mu       sync.Mutex
	tasks    map[string]*task // by namespace/id
	creating map[string]bool
	// changed is closed, and replaced, when a creation begins or ends;
	// creations counts those begun, failed has the count of a key's last
	// creation when it ended without a task (awaitCreated).
	changed   chan struct{}
	creations uint64
	failed    map[string]uint64
	// stop ends the monitors when the supervisor closes.
	stopCtx context.Context
	stop    context.CancelFunc
}

func newTaskManager(s *Server) *taskManager {
	ctx, cancel := context.WithCancel(context.Background())
	var shims shimLauncher = socketShims{spares: &spareShims{}}
	if s.cfg.shims != nil {
		shims = s.cfg.shims
	}
	return &taskManager{s: s, shims: shims, tasks: map[string]*task{}, creating: map[string]bool{}, changed: make(chan struct{}), failed: map[string]uint64{}, stopCtx: ctx, stop: cancel}
}

// creationChangedLocked wakes awaitCreated's waiters. m.mu is held.
func (m *taskManager) creationChangedLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// forgetFailed drops what awaitCreated knows of a deleted container.
func (m *taskManager) forgetFailed(ns, id string) {
	m.mu.Lock()
	delete(m.failed, ns+"/"+id)
	m.mu.Unlock()
}

// awaitCreated returns the task of id, waiting for the creation its caller
// makes beside this call (AttachTaskRequest.await_create): NotFound once a
// creation it saw under way, or one begun after the call, ended without a
// task. The caller's ctx bounds the wait for one that has not begun.
func (m *taskManager) awaitCreated(ctx context.Context, id string) (*task, error) {
	key, err := taskKey(ctx, id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	since := m.creations
	m.mu.Unlock()
	seen := false
	for {
		m.mu.Lock()
		t, creating, changed := m.tasks[key], m.creating[key], m.changed
		failed, hasFailed := m.failed[key]
		m.mu.Unlock()
		switch {
		case t != nil:
			return t, nil
		case creating:
			seen = true
		case seen || hasFailed && failed > since:
			return nil, fmt.Errorf("task %s: its creation failed: %w", id, errdefs.ErrNotFound)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func namespaceOf(ctx context.Context) (string, error) { return namespaces.NamespaceRequired(ctx) }

func (m *taskManager) bundleDir(ns, id string) string {
	return filepath.Join(m.s.cfg.State, "tasks", ns, id)
}

// socketPath is short whatever the id: sockets are limited to 108 bytes.
func (m *taskManager) socketPath(ns, id string) string {
	h := sha256.Sum256([]byte(ns + "/" + id))
	return filepath.Join(m.s.cfg.State, "s", hex.EncodeToString(h[:])[:16]+".sock")
}

func (m *taskManager) exists(ns, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[ns+"/"+id] != nil || m.creating[ns+"/"+id]
}

func (m *taskManager) isCreating(ctx context.Context, id string) bool {
	ns, err := namespaceOf(ctx)
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.creating[ns+"/"+id]
}

// taskKey is the key of id's task in the caller's namespace.
func taskKey(ctx context.Context, id string) (string, error) {
	ns, err := namespaceOf(ctx)
	if err != nil {
		return "", err
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	return ns + "/" + id, nil
}

func (m *taskManager) get(ctx context.Context, id string) (*task, error) {
	key, err := taskKey(ctx, id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[key]
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

func logFormat(path, format string) (shimv1.LogFormat, error) {
	if path == "" {
		return shimv1.LogFormat_LOG_FORMAT_NONE, nil
	}
	switch format {
	case "", "json-file":
		return shimv1.LogFormat_LOG_FORMAT_JSON_FILE, nil
	case "cri":
		return shimv1.LogFormat_LOG_FORMAT_CRI, nil
	case "none":
		return shimv1.LogFormat_LOG_FORMAT_NONE, nil
	}
	return 0, fmt.Errorf("log format %q: want json-file, cri or none: %w", format, errdefs.ErrInvalidArgument)
}

// bundleSpec returns the container's spec with root.path set to "rootfs".
// Only the top level and root are decoded, the rest is copied as it is:
// decoding the whole spec into maps and indenting it again took 0.4 to
// 1.6 ms of every task's create here (Docker's seccomp profile is most of
// a spec).
func bundleSpec(raw []byte) ([]byte, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("container spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	root := map[string]json.RawMessage{}
	if r := spec["root"]; len(r) > 0 && string(r) != "null" {
		if err := json.Unmarshal(r, &root); err != nil {
			return nil, fmt.Errorf("container spec: root: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	root["path"] = json.RawMessage(`"rootfs"`)
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	spec["root"] = b
	return json.Marshal(spec)
}

func (m *taskManager) create(ctx context.Context, req *pb.CreateTaskRequest) (_ *task, retErr error) {
	ns, err := namespaceOf(ctx)
	if err != nil {
		return nil, err
	}
	c, err := m.s.getContainer(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	key := ns + "/" + c.ID
	// Not while cp writes through a view of the stopped rootfs: a second
	// overlay on the same upper directory is undefined behaviour.
	defer viewLocks.lock(key)()
	m.mu.Lock()
	if m.tasks[key] != nil || m.creating[key] {
		m.mu.Unlock()
		return nil, fmt.Errorf("task %s: %w", c.ID, errdefs.ErrAlreadyExists)
	}
	m.creating[key] = true
	m.creations++
	seq := m.creations
	delete(m.failed, key)
	m.creationChangedLocked()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.creating, key)
		if m.tasks[key] == nil {
			m.failed[key] = seq
		}
		m.creationChangedLocked()
		m.mu.Unlock()
	}()

	rt, err := m.s.runtime(c.Runtime)
	if err != nil {
		return nil, err
	}
	lf, err := logFormat(req.LogPath, req.LogFormat)
	if err != nil {
		return nil, err
	}
	if c.SnapshotKey == "" {
		return nil, fmt.Errorf("container %s has no snapshot key: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	t := &task{
		taskInfo: taskInfo{
			Namespace: ns, ID: c.ID, Runtime: rt,
			RuntimeRoot: filepath.Join(m.s.cfg.State, "runtime", rt.Name),
			Socket:      m.socketPath(ns, c.ID),
			ShimState:   filepath.Join(m.s.cfg.State, "shim", ns, c.ID),
		},
		bundle:      m.bundleDir(ns, c.ID),
		monitorDone: make(chan struct{}),
	}
	// Whatever a previous task of this container left (a crash mid-create).
	m.teardown(t)
	defer func() {
		if retErr != nil {
			m.teardown(t)
		}
	}()
	rootfs := filepath.Join(t.bundle, "rootfs")
	for _, d := range []string{rootfs, filepath.Dir(t.Socket), filepath.Dir(t.ShimState), t.RuntimeRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("task %s: %w", c.ID, err)
		}
	}
	// The shim is handed its container (for a spare, one datagram; it sets
	// up while its create is on the way) while the spec is read, the bundle
	// written and the rootfs mounted: the shim reads neither before the
	// create, which waits for both.
	endSpawn := trace.Begin(ctx, "shim spawn")
	spawned := make(chan shimStarted, 1)
	opts := m.shimOpts(t.taskInfo, t.bundle)
	go func() {
		cl, err := m.shims.Start(ctx, opts)
		endSpawn()
		spawned <- shimStarted{cl, err}
	}()
	shimTaken := false
	defer func() {
		if !shimTaken { // a failure before the create: the shim goes too
			if r := <-spawned; r.err == nil {
				t.shim = r.cl
				m.abandonShim(t)
			}
		}
	}()
	// The spec (two passes over its JSON, Docker's seccomp profile is most
	// of it) and the rootfs's mounts, beside the spawn too.
	mounts, err := m.s.snaps.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("container %s rootfs: %w", c.ID, err)
	}
	spec, err := bundleSpec(c.Spec)
	if err != nil {
		return nil, err
	}
	uids, gids, err := rootfsIDMap(c.Spec)
	if err != nil {
		return nil, err
	}
	mounts = snapshots.WithIDMap(mounts, uids, gids)
	// The bundle is in the state directory (/run: tmpfs, gone at reboot
	// with the containers it describes): replaced atomically, not synced
	// (two fsyncs of file and directory each were 1-4 ms of every create).
	info, _ := json.Marshal(t.taskInfo)
	if err := atomicfile.Replace(filepath.Join(t.bundle, taskFile), info, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Replace(filepath.Join(t.bundle, "config.json"), spec, 0o600); err != nil {
		return nil, err
	}
	endMount := trace.Begin(ctx, "rootfs mount")
	if err := snapshots.MountAll(mounts, rootfs); err != nil {
		return nil, fmt.Errorf("task %s: %w", c.ID, err)
	}
	failpoint.Hit("task-rootfs-mounted")
	endMount()
	r := <-spawned
	shimTaken = true
	if r.err != nil {
		return nil, fmt.Errorf("task %s: %w", c.ID, r.err)
	}
	cl := r.cl
	t.shim = cl
	failpoint.Hit("task-shim-started")
	cr, err := cl.Create(ctx, &shimv1.CreateRequest{
		LogPath: req.LogPath, LogFormat: lf, Stdin: req.Stdin, Terminal: req.Terminal,
		LogMaxSize: req.LogMaxSize, LogMaxFiles: req.LogMaxFiles, LogCompress: req.LogCompress, LogAttrs: req.LogAttrs,
	})
	if err != nil {
		m.abandonShim(t)
		return nil, fmt.Errorf("task %s: %w", c.ID, err)
	}
	failpoint.Hit("task-created")
	t.createdPid = cr.GetPid()
	m.mu.Lock()
	m.tasks[key] = t
	m.mu.Unlock()
	m.monitor(t)
	return t, nil
}

// shimStarted is a shim's start, made beside the bundle and the rootfs.
type shimStarted struct {
	cl  taskShim
	err error
}

// stopShim deletes the container through the shim and makes the shim exit.
func (m *taskManager) stopShim(t *task, force bool) (*shimv1.DeleteResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := t.shim.Delete(ctx, force)
	if err != nil && !errdefs.IsUnavailable(err) {
		return nil, err
	}
	if err == nil {
		t.shim.Shutdown(ctx) // the connection may break as the shim exits
	} else if rec, cerr := m.cleanupDeadShim(t); cerr == nil {
		// The shim is gone: a fresh one cleaned up after it.
		resp = &shimv1.DeleteResponse{Pid: rec.Pid, ExitStatus: rec.ExitStatus, ExitedAt: rec.ExitedAt.UnixNano()}
	} else {
		return nil, cerr
	}
	t.shim.Close()
	if ch := t.shim.Exited(); ch != nil {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
		}
	}
	return resp, nil
}

// abandonShim gets rid of the shim of a task whose creation failed: whatever
// the runtime left is deleted, and the shim, which this supervisor started,
// is made to exit (killed if it does not, then cleaned up after).
func (m *taskManager) abandonShim(t *task) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, derr := t.shim.Delete(ctx, true)
	t.shim.Shutdown(ctx)
	t.shim.Close()
	if ch := t.shim.Exited(); ch != nil {
		select {
		case <-ch:
		case <-time.After(3 * time.Second):
			if pid := t.shim.Pid(); pid > 0 {
				unix.Kill(pid, unix.SIGKILL)
				<-ch
			}
			derr = errdefs.ErrUnavailable
		}
	}
	if derr != nil && !errdefs.IsNotFound(derr) {
		m.cleanupDeadShim(t)
	}
}

// shimOpts describes the task's shim as it was started.
func (m *taskManager) shimOpts(ti taskInfo, bundle string) client.StartOpts {
	return client.StartOpts{
		ID: ti.ID, Bundle: bundle, Runtime: ti.Runtime.Path, RuntimeRoot: ti.RuntimeRoot, RuntimeArgs: ti.Runtime.Args,
		RuntimeStandby: ti.Runtime.Standby,
		Socket:         ti.Socket, StateDir: ti.ShimState, ShimBinary: m.s.cfg.ShimBinary,
	}
}

// cleanupDeadShim has a fresh shim binary clean up after the task's dead
// shim (`shim delete`): the runtime's state, whatever of the container
// still runs, and the exit status the dead shim recorded.
func (m *taskManager) cleanupDeadShim(t *task) (record.Exit, error) {
	rec, err := m.shims.Cleanup(context.Background(), m.shimOpts(t.taskInfo, t.bundle))
	if err != nil {
		m.s.log.Error("shim delete", "id", t.ID, "err", err)
		return rec, fmt.Errorf("task %s: %w", t.ID, err)
	}
	return rec, nil
}

// teardown removes the rootfs mount, the bundle, the shim's state and socket.
func (m *taskManager) teardown(t *task) error {
	rootfs := filepath.Join(t.bundle, "rootfs")
	if err := snapshots.Unmount(rootfs); err != nil {
		return err
	}
	if err := os.RemoveAll(t.bundle); err != nil {
		return fmt.Errorf("remove bundle: %w", err)
	}
	os.RemoveAll(t.ShimState)
	os.Remove(t.Socket)
	os.Remove(record.TraceFile(t.Socket))
	return nil
}

func (m *taskManager) delete(ctx context.Context, id string, force bool) (*shimv1.DeleteResponse, error) {
	t, err := m.get(ctx, id)
	if errdefs.IsNotFound(err) && m.isCreating(ctx, id) {
		// Not "no task": the container's removal would then find one
		// appear. The caller retries, as for a delete under way.
		return nil, fmt.Errorf("task %s is being created: %w", id, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.deleting {
		t.mu.Unlock()
		return nil, fmt.Errorf("task %s is being deleted: %w", id, errdefs.ErrFailedPrecondition)
	}
	t.deleting = true
	rec := t.exited
	t.mu.Unlock()
	if rec != nil {
		// Normally done when the shim was found dead; not when its
		// cleanup failed.
		if err := m.teardown(t); err != nil {
			t.mu.Lock()
			t.deleting = false
			t.mu.Unlock()
			return nil, fmt.Errorf("delete task %s: %w", id, err)
		}
		m.mu.Lock()
		delete(m.tasks, t.Namespace+"/"+t.ID)
		m.mu.Unlock()
		m.removeStopped(t.taskInfo)
		m.publishDelete(t, rec.Pid, rec.ExitStatus, rec.ExitedAt.UnixNano())
		return &shimv1.DeleteResponse{Pid: rec.Pid, ExitStatus: rec.ExitStatus, ExitedAt: rec.ExitedAt.UnixNano()}, nil
	}
	resp, err := m.stopShim(t, force)
	if err != nil {
		t.mu.Lock()
		t.deleting = false
		t.mu.Unlock()
		return nil, fmt.Errorf("delete task %s: %w", id, err)
	}
	failpoint.Hit("task-shim-stopped")
	m.mu.Lock()
	delete(m.tasks, t.Namespace+"/"+t.ID)
	m.mu.Unlock()
	// The exit event goes out before the delete event.
	if t.monitorDone != nil {
		select {
		case <-t.monitorDone:
		case <-time.After(5 * time.Second):
		}
	}
	if err := m.teardown(t); err != nil {
		return nil, fmt.Errorf("delete task %s: %w", id, err)
	}
	m.publishDelete(t, resp.Pid, resp.ExitStatus, resp.ExitedAt)
	return resp, nil
}

// recover reconnects to the shims of the tasks found on disk; a task whose
// shim is gone is cleaned up: runtime state, rootfs mount, bundle, socket.
func (m *taskManager) recover(ctx context.Context) {
	root := filepath.Join(m.s.cfg.State, "tasks")
	nss, _ := os.ReadDir(root)
	for _, nsd := range nss {
		ids, _ := os.ReadDir(filepath.Join(root, nsd.Name()))
		for _, idd := range ids {
			bundle := filepath.Join(root, nsd.Name(), idd.Name())
			t := &task{bundle: bundle}
			b, err := os.ReadFile(filepath.Join(bundle, taskFile))
			if err == nil {
				err = json.Unmarshal(b, &t.taskInfo)
			}
			if err != nil {
				// Interrupted before the shim was started.
				m.s.log.Warn("recover: removing incomplete task bundle", "bundle", bundle, "err", err)
				t.ShimState = filepath.Join(m.s.cfg.State, "shim", nsd.Name(), idd.Name())
				t.Socket = m.socketPath(nsd.Name(), idd.Name())
				m.teardown(t)
				continue
			}
			if cl, st := m.connect(ctx, t.Socket); cl != nil {
				if st.Status == shimv1.Status_STATUS_UNKNOWN {
					// Interrupted between the shim's start and its Create:
					// no container; the shim goes, as after a failed Create.
					m.s.log.Warn("recover: removing a task whose container was never created", "namespace", t.Namespace, "id", t.ID)
					sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					if err := cl.Shutdown(sctx); err != nil {
						m.s.log.Error("recover: shutting down an idle shim", "id", t.ID, "err", err)
					}
					cancel()
					cl.Close()
					if err := m.teardown(t); err != nil {
						m.s.log.Error("recover: cleaning task", "id", t.ID, "err", err)
					}
					continue
				}
				t.shim = cl
				t.monitorDone = make(chan struct{})
				m.tasks[t.Namespace+"/"+t.ID] = t
				m.s.log.Info("recover: task is alive", "namespace", t.Namespace, "id", t.ID)
				m.monitor(t)
				m.recoverExecs(ctx, t)
				continue
			}
			// A fresh shim cleans up after the dead one and tells its exit
			// status (255, as containerd, when nobody saw the exit).
			rec, err := m.cleanupDeadShim(t)
			if err != nil {
				// Listed as stopped, its files kept: the next start tries
				// again, and Delete removes what supervisord made.
				rec = record.UnknownExit()
				t.exited = &rec
				m.tasks[t.Namespace+"/"+t.ID] = t
				continue
			}
			m.s.log.Warn("recover: shim gone", "namespace", t.Namespace, "id", t.ID, "exit_status", rec.ExitStatus, "exited_at", rec.ExitedAt)
			// Persisted before the teardown removes the shim's state: a
			// crash in between must not lose the exit status.
			if err := m.saveStopped(t.taskInfo, rec); err != nil {
				m.s.log.Error("recover: persisting stopped task", "id", t.ID, "err", err)
				continue
			}
			if err := m.teardown(t); err != nil {
				m.s.log.Error("recover: cleaning task", "id", t.ID, "err", err)
			}
			t.exited = &rec
			m.tasks[t.Namespace+"/"+t.ID] = t
		}
	}
	m.loadStopped()
	// Sockets nobody owns any more.
	socks, _ := os.ReadDir(filepath.Join(m.s.cfg.State, "s"))
	live := map[string]bool{}
	for _, t := range m.tasks {
		if t.shim != nil && t.exited == nil {
			live[t.Socket] = true
		}
	}
	for _, e := range socks {
		p := filepath.Join(m.s.cfg.State, "s", e.Name())
		if !live[p] && e.Type() == fs.ModeSocket {
			os.Remove(p)
		}
	}
}

// connect reconnects to a live shim and reports its container's state.
func (m *taskManager) connect(ctx context.Context, socket string) (taskShim, *shimv1.StateResponse) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cl, err := m.shims.Connect(ctx, socket)
	if err != nil {
		return nil, nil
	}
	st, err := cl.State(ctx)
	if err != nil {
		cl.Close()
		return nil, nil
	}
	return cl, st
}

// warmShim starts a spare shim for a task expected soon (a container of
// the runtime named runtime was just created), when the launcher keeps
// spares; for berth's runtime, the spare starts a standby of it too.
func (m *taskManager) warmShim(runtime string) {
	w, ok := m.shims.(interface{ Warm(string, string) })
	if !ok {
		return
	}
	standbyRuntime := ""
	if rt, err := m.s.runtime(runtime); err == nil && rt.Standby {
		// As the shim's --runtime (client.StartOpts), so the shim sees it is
		// the same runtime.
		if abs, err := filepath.Abs(rt.Path); err == nil {
			standbyRuntime = abs
		}
	}
	w.Warm(m.s.cfg.ShimBinary, standbyRuntime)
}

func (m *taskManager) close() {
	m.stop()
	if c, ok := m.shims.(interface{ CloseSpares() }); ok {
		c.CloseSpares()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tasks {
		if t.shim != nil && t.exitRecord() == nil {
			t.shim.Close()
		}
	}
	m.tasks = map[string]*task{}
}
