package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
)

// A container's network record is kept in two files. Its configuration
// (networks, --ip, aliases, port specs) is DATA_ROOT/network/containers/
// <id>.json, synced: it must survive a power loss. What holds only while
// the container runs (addresses, interfaces, host ports) is EXEC_ROOT/
// network/<id>.json, replaced without sync at each start and removed at
// each stop: after a power loss no container runs, and Reconcile detaches
// a container without it by the names derived from its ID. The sync of the
// whole record was the largest step of an attach (2 to 50 ms here).

// liveRecord is the part of a Sandbox that holds while it runs.
type liveRecord struct {
	Running   bool           `json:"running"`
	Mappings  []Mapping      `json:"mappings,omitempty"`
	Endpoints []liveEndpoint `json:"endpoints,omitempty"`
}

type liveEndpoint struct {
	NetworkID    string     `json:"networkID"`
	IfName       string     `json:"ifName,omitempty"`
	Addr         netip.Addr `json:"addr,omitzero"`
	Addr6        netip.Addr `json:"addr6,omitzero"`
	MAC          string     `json:"mac,omitempty"`
	DefaultRoute bool       `json:"defaultRoute,omitempty"`
}

func (m *Manager) livePath(id string) string {
	return filepath.Join(m.cfg.ExecRoot, "network", id+".json")
}

// saveConfig durably writes the configuration part of s.
func (m *Manager) saveConfig(s *Sandbox) error {
	return saveJSON(m.configPath(s.ID), configRecord(s))
}

func (m *Manager) configPath(id string) string { return m.dir("containers", id+".json") }

// configRecord is a copy of the configuration part of s.
func configRecord(s *Sandbox) *Sandbox {
	c := *s
	c.Running, c.Mappings = false, nil
	c.Endpoints = make([]*Endpoint, len(s.Endpoints))
	for i, e := range s.Endpoints {
		ce := *e
		ce.IfName, ce.Addr, ce.Addr6, ce.MAC, ce.DefaultRoute = "", netip.Addr{}, netip.Addr{}, "", false
		c.Endpoints[i] = &ce
	}
	return &c
}

// saveLive writes the live part of s, or removes it once s is not running.
func (m *Manager) saveLive(s *Sandbox) error {
	p := m.livePath(s.ID)
	if !s.Running {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("network record: %w", err)
		}
		return nil
	}
	l := liveRecord{Running: true, Mappings: s.Mappings}
	for _, e := range s.Endpoints {
		if e.attached() {
			l.Endpoints = append(l.Endpoints, liveEndpoint{NetworkID: e.NetworkID, IfName: e.IfName, Addr: e.Addr, Addr6: e.Addr6, MAC: e.MAC, DefaultRoute: e.DefaultRoute})
		}
	}
	b, err := json.Marshal(&l)
	if err != nil {
		return err
	}
	return atomicfile.Replace(p, b, 0o600)
}

// loadLive sets the live part of s from its file. A record from before the
// split has its live part in the configuration file: without a live file
// it is kept as read. A live file that cannot be read (cut short by a
// power loss) is as none: the container is not running.
func (m *Manager) loadLive(s *Sandbox) {
	b, err := os.ReadFile(m.livePath(s.ID))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var l liveRecord
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	if err != nil {
		m.log.Warn("network record: live part unreadable, taken as not running", "id", s.ID, "err", err)
		l = liveRecord{}
	}
	s.Running, s.Mappings = l.Running, l.Mappings
	for _, e := range s.Endpoints {
		e.IfName, e.Addr, e.Addr6, e.MAC, e.DefaultRoute = "", netip.Addr{}, netip.Addr{}, "", false
		for _, le := range l.Endpoints {
			if le.NetworkID == e.NetworkID {
				e.IfName, e.Addr, e.Addr6, e.MAC, e.DefaultRoute = le.IfName, le.Addr, le.Addr6, le.MAC, le.DefaultRoute
			}
		}
	}
}

// recordRemoveDelay is how long after a container's removal its record's
// files are unlinked (removeRecordLater).
const recordRemoveDelay = 200 * time.Millisecond

// removeRecordLater drops both files of a removed container some time
// after its removal, once the client waiting for it has gone: two unlinks
// were 0.3-0.7 ms of the answer to `run --rm`. A stop or a crash before
// leaves them to the next start's Reconcile, which drops the record of a
// container that no longer exists.
func (m *Manager) removeRecordLater(id string) {
	time.AfterFunc(recordRemoveDelay, func() { m.removeRecord(id) })
}

// removeRecord drops both files of a removed container.
func (m *Manager) removeRecord(id string) {
	for _, p := range []string{m.configPath(id), m.livePath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("remove network record", "id", id, "err", err)
		}
	}
}

// saveSandbox writes both parts of s (a connect or disconnect changes both).
func (m *Manager) saveSandbox(s *Sandbox) error {
	if err := m.saveConfig(s); err != nil {
		return err
	}
	return m.saveLive(s)
}
