package network

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
)

// A spare is a network namespace with a veth pair in it, made in the
// background ahead of the next attach: making a namespace (~1 ms) and a
// pair (2 to 4 ms here) were the largest steps left on a container's start
// path. An attach takes the spare (its namespace moved to the container's
// path, the pair renamed and configured) and another is made. A spare is
// a dot-file of EXEC_ROOT/netns, so a crash leaves nothing Reconcile does
// not remove (the pair goes with its namespace); Close removes it.
type spare struct {
	ns   string // the namespace's path
	host string // the pair's host end; the other is eth0 in ns
}

const spareIf = "eth0"

// refillSpare makes a spare in the background unless one is being made.
func (m *Manager) refillSpare() {
	if !m.cfg.Spares {
		return
	}
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if m.spareClosed || m.spareBusy {
		return
	}
	m.spareBusy = true
	m.spareWG.Add(1)
	go func() {
		defer m.spareWG.Done()
		defer func() { m.spareMu.Lock(); m.spareBusy = false; m.spareMu.Unlock() }()
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		r := hex.EncodeToString(b)
		// vbs: never a container's host end (vb + hex digits).
		sp := spare{ns: filepath.Join(m.NetNSDir(), ".spare-"+r), host: "vbs" + r[:10]}
		if err := m.plumb.CreateNetNS(sp.ns); err != nil {
			m.log.Warn("spare network namespace", "err", err)
			return
		}
		if err := m.plumb.MakeSpare(sp.ns, sp.host, spareIf); err != nil {
			m.log.Warn("spare veth pair", "err", err)
			_ = m.plumb.RemoveNetNS(sp.ns)
			return
		}
		select {
		case m.spares <- sp:
		default:
			_ = m.plumb.RemoveNetNS(sp.ns)
		}
	}()
}

// takeSpare returns the spare if one is ready. The next is started at
// the end of the attach (Attach), not now: making it meanwhile would
// contend with this attach for the kernel's locks.
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
		err := m.plumb.MoveNetNS(sp.ns, path)
		if err == nil {
			return sp.host, nil
		}
		m.log.Warn("spare network namespace", "err", err)
		_ = m.plumb.RemoveNetNS(sp.ns)
	}
	return "", m.plumb.CreateNetNS(path)
}

// Close removes the spare (engined's shutdown).
func (m *Manager) Close() {
	m.spareMu.Lock()
	m.spareClosed = true
	m.spareMu.Unlock()
	m.spareWG.Wait()
	for {
		select {
		case sp := <-m.spares:
			_ = m.plumb.RemoveNetNS(sp.ns)
		default:
			return
		}
	}
}
