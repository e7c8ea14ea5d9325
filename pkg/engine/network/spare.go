package network

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"
)

// A spare is a network namespace with a veth pair in it, made in the
// background ahead of the next attach: making a namespace (~1 ms) and a
// pair (2 to 4 ms here) were the largest steps left on a container's start
// path. An attach takes the spare (its namespace bound to the container's
// path, the pair renamed and configured) and another is made. The spare's
// namespace is held only by an open file of engined, with no mount: a
// crash or Close lets it go, and the pair with it.
type spare struct {
	ns   *os.File
	host string // the pair's host end; the other is eth0 in ns
}

const spareIf = "eth0"

// refillSpare makes a spare in the background unless one is being made or
// waits.
func (m *Manager) refillSpare() {
	if !m.cfg.Spares {
		return
	}
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if m.spareClosed || m.spareBusy || len(m.spares) > 0 {
		return
	}
	m.spareBusy = true
	m.spareWG.Add(1)
	go func() {
		defer m.spareWG.Done()
		defer func() { m.spareMu.Lock(); m.spareBusy = false; m.spareMu.Unlock() }()
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		// vbs: never a container's host end (vb + hex digits).
		sp := spare{host: "vbs" + hex.EncodeToString(b)}
		var err error
		if sp.ns, err = m.plumb.NewNetNS(m.cfg.NetNSSysctls); err != nil {
			m.log.Warn("spare network namespace", "err", err)
			return
		}
		if err := m.plumb.MakeSpare(sp.ns, sp.host, spareIf); err != nil {
			m.log.Warn("spare veth pair", "err", err)
			sp.ns.Close()
			return
		}
		select {
		case m.spares <- sp:
		default:
			sp.ns.Close()
		}
	}()
}

// refillDelay is how long after an attach the next spare is made: not
// during the attach (it would contend with it for the kernel's locks), nor
// during the container's task create and start, which follow the attach at
// once on the same cores (the shim's spares wait as long, for the same
// reason: pkg/supervisor's refillDelay).
const refillDelay = 100 * time.Millisecond

// refillSpareLater makes a spare refillDelay from now (refillSpare), unless
// a refill is pending already: a burst of attaches makes one at a time.
func (m *Manager) refillSpareLater() {
	if !m.cfg.Spares {
		return
	}
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if m.refillPending {
		return
	}
	m.refillPending = true
	time.AfterFunc(refillDelay, func() {
		m.spareMu.Lock()
		m.refillPending = false
		m.spareMu.Unlock()
		m.refillSpare()
	})
}

// takeSpare returns the spare if one is ready. The next is made after the
// attach (refillSpareLater).
func (m *Manager) takeSpare() (spare, bool) {
	select {
	case sp := <-m.spares:
		return sp, true
	default:
		return spare{}, false
	}
}

// netnsLocked makes the container's namespace at path, from the spare
// when there is one; it returns the spare pair's host end then.
func (m *Manager) netnsLocked(path string) (string, error) {
	if sp, ok := m.takeSpare(); ok {
		err := m.plumb.HoldNetNS(sp.ns, path)
		sp.ns.Close()
		if err == nil {
			return sp.host, nil
		}
		m.log.Warn("spare network namespace", "err", err)
	}
	return "", m.plumb.CreateNetNS(path, m.cfg.NetNSSysctls)
}

// Close lets the spare go and writes the address releases not written yet
// (engined's shutdown).
func (m *Manager) Close() {
	m.spareMu.Lock()
	m.spareClosed = true
	m.spareMu.Unlock()
	m.spareWG.Wait()
	m.teardownsNow()
	if err := m.ipam.Close(); err != nil {
		m.log.Warn("address leases", "err", err)
	}
	for {
		select {
		case sp := <-m.spares:
			sp.ns.Close()
		default:
			return
		}
	}
}
