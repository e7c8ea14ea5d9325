package supervisor

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/shim/record"
	"github.com/berthd/berth/pkg/supervisor/events"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// stoppedRecord is STATE/stopped/<ns>/<id>.json: a task whose shim is
// gone, kept until Tasks.Delete so that its exit status survives
// supervisord restarts.
type stoppedRecord struct {
	Info taskInfo    `json:"info"`
	Exit record.Exit `json:"exit"`
}

func (m *taskManager) stoppedPath(ns, id string) string {
	return filepath.Join(m.s.cfg.State, "stopped", ns, id+".json")
}

func (m *taskManager) saveStopped(ti taskInfo, rec record.Exit) error {
	p := m.stoppedPath(ti.Namespace, ti.ID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(stoppedRecord{Info: ti, Exit: rec})
	if err != nil {
		return err
	}
	// The state directory (/run) does not outlive a reboot: no fsync.
	return atomicfile.Replace(p, b, 0o600)
}

func (m *taskManager) removeStopped(ti taskInfo) {
	os.Remove(m.stoppedPath(ti.Namespace, ti.ID))
}

// loadStopped lists the persisted stopped tasks (called during recovery,
// after the bundles were looked at: a live task of the same id wins).
func (m *taskManager) loadStopped() {
	root := filepath.Join(m.s.cfg.State, "stopped")
	nss, _ := os.ReadDir(root)
	for _, nsd := range nss {
		files, _ := os.ReadDir(filepath.Join(root, nsd.Name()))
		for _, f := range files {
			p := filepath.Join(root, nsd.Name(), f.Name())
			if !strings.HasSuffix(f.Name(), ".json") {
				os.Remove(p) // a temp file of an interrupted write
				continue
			}
			var r stoppedRecord
			b, err := os.ReadFile(p)
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err != nil || r.Info.ID == "" {
				m.s.log.Warn("recover: dropping unreadable stopped record", "path", p, "err", err)
				os.Remove(p)
				continue
			}
			key := r.Info.Namespace + "/" + r.Info.ID
			if old := m.tasks[key]; old != nil {
				if old.exited == nil {
					os.Remove(p) // a newer task of that container runs
				}
				continue
			}
			rec := r.Exit
			m.tasks[key] = &task{taskInfo: r.Info, bundle: m.bundleDir(r.Info.Namespace, r.Info.ID), exited: &rec}
		}
	}
}

func (m *taskManager) publish(t *task, topic string, e *pb.Envelope) {
	if e == nil {
		e = &pb.Envelope{}
	}
	e.Namespace, e.Topic, e.ContainerId = t.Namespace, topic, t.ID
	m.s.events.Publish(e)
}

func (m *taskManager) publishDelete(t *task, pid, status uint32, exitedAt int64) {
	m.publish(t, events.TaskDelete, &pb.Envelope{Pid: pid, ExitStatus: status, ExitedAt: exitedAt})
}

// monitor waits, through the shim, for the task's init to exit and
// publishes /tasks/exit (and /tasks/oom). A shim that dies meanwhile takes
// its container down: see shimDied. supervisord runs one per live task,
// also for tasks recovered after a restart.
// t.monitorDone must have been made before t was shared.
func (m *taskManager) monitor(t *task) {
	done := t.monitorDone
	go func() {
		defer close(done)
		for {
			r, err := t.shim.Wait(m.stopCtx)
			if err == nil {
				if r.OomKilled {
					m.publish(t, events.TaskOOM, nil)
				}
				e := &pb.Envelope{ExitStatus: r.ExitStatus, ExitedAt: r.ExitedAt, Pid: t.createdPid}
				if e.Pid == 0 {
					// A task recovered after a restart: only its shim
					// knows init's pid. (Else no State round trip to the
					// shim beside the exit's answers.)
					if st, _ := t.shim.State(m.stopCtx); st != nil {
						e.Pid = st.Pid
					}
				}
				if r.OomKilled {
					e.Attributes = map[string]string{"oom_killed": "true"}
				}
				m.publish(t, events.TaskExit, e)
				return
			}
			if m.stopCtx.Err() != nil {
				return
			}
			t.mu.Lock()
			deleting := t.deleting
			t.mu.Unlock()
			if deleting {
				return
			}
			if !m.shimAlive(t) {
				m.shimDied(t)
				return
			}
			select {
			case <-m.stopCtx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

// shimAlive tells whether the task's shim still answers on its socket.
func (m *taskManager) shimAlive(t *task) bool {
	if ch := t.shim.Exited(); ch != nil {
		select {
		case <-ch:
			return false
		default:
		}
	}
	c, err := net.DialTimeout("unix", t.Socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// shimDied takes down the container of a shim that died (nothing would
// reap it, log it or report its end), cleans everything up and keeps the
// task listed as stopped with the exit status the shim recorded, else 255.
func (m *taskManager) shimDied(t *task) {
	t.mu.Lock()
	if t.deleting || t.exited != nil {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	rec, err := m.cleanupDeadShim(t)
	if err != nil {
		// Left as it is; supervisord's next start (recover) tries again.
		rec = record.UnknownExit()
	}
	m.s.log.Warn("shim died: its container was taken down", "namespace", t.Namespace, "id", t.ID, "exit_status", rec.ExitStatus)
	if err := m.saveStopped(t.taskInfo, rec); err != nil {
		m.s.log.Error("persisting stopped task", "id", t.ID, "err", err)
	}
	if err == nil {
		if err := m.teardown(t); err != nil {
			m.s.log.Error("cleaning task of a dead shim", "id", t.ID, "err", err)
		}
	}
	t.shim.Close()
	t.mu.Lock()
	t.exited = &rec
	t.mu.Unlock()
	m.publish(t, events.TaskExit, &pb.Envelope{Pid: rec.Pid, ExitStatus: rec.ExitStatus,
		ExitedAt: rec.ExitedAt.UnixNano(), Attributes: map[string]string{"shim": "died"}})
}
