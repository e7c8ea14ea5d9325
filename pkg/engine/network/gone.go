package network

import (
	"sync"
	"time"
)

// goneDelay is how long after a --rm container's exit its veths and
// namespace are deleted (DetachGone): after its client, which has just
// been answered, has exited. Deleted right away they took a CPU from that
// client on two cores (the same as a removed container's files, see
// docs/performance.md).
const goneDelay = 200 * time.Millisecond

// teardown is one container's pending deletion; run does it once, the
// caller waiting for a run under way.
type teardown struct {
	once  sync.Once
	do    func()
	timer *time.Timer
}

func (t *teardown) run() { t.once.Do(t.do) }

// teardownLater runs f goneDelay from now, or earlier when an attach of
// the same container (awaitGone) or Close needs it done.
func (m *Manager) teardownLater(id string, f func()) {
	t := &teardown{}
	t.do = func() {
		f()
		m.goneMu.Lock()
		if m.gone[id] == t {
			delete(m.gone, id)
		}
		m.goneMu.Unlock()
	}
	t.timer = time.AfterFunc(goneDelay, t.run)
	m.goneMu.Lock()
	if m.gone == nil {
		m.gone = map[string]*teardown{}
	}
	m.gone[id] = t
	m.goneMu.Unlock()
}

// awaitGone does id's pending deletion now, or waits for the one under
// way: a container whose removal failed after DetachGone may be started
// again, and its namespace's path must be free.
func (m *Manager) awaitGone(id string) {
	m.goneMu.Lock()
	t := m.gone[id]
	m.goneMu.Unlock()
	if t != nil {
		t.timer.Stop()
		t.run()
	}
}

// teardownsNow does every pending deletion (engined's shutdown).
func (m *Manager) teardownsNow() {
	m.goneMu.Lock()
	ts := make([]*teardown, 0, len(m.gone))
	for _, t := range m.gone {
		ts = append(ts, t)
	}
	m.goneMu.Unlock()
	for _, t := range ts {
		t.timer.Stop()
		t.run()
	}
}
