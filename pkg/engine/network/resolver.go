package network

import (
	"net/netip"
	"os"
	"strings"
)

// hostResolvConf is where the host's resolvers are read (a variable for
// tests).
var hostResolvConf = "/etc/resolv.conf"

// userNetwork says whether names resolve on the network: user-defined
// bridge networks, as with dockerd (not the default bridge).
func (n *Network) userNetwork() bool { return n.Driver == "bridge" && n.Name != NameBridge }

// EmbeddedDNS says whether the container's resolv.conf names the
// embedded server (127.0.0.11): it is on a user-defined network.
func (m *Manager) EmbeddedDNS(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil {
		return false
	}
	for _, ep := range s.Endpoints {
		if n := m.networks[ep.NetworkID]; n != nil && n.userNetwork() {
			return true
		}
	}
	return false
}

// startResolverLocked starts the embedded DNS of a running container on a
// user network.
func (m *Manager) startResolverLocked(s *Sandbox) error {
	if m.resolvers[s.ID] != nil {
		return nil
	}
	user := false
	for _, ep := range s.Endpoints {
		if n := m.networks[ep.NetworkID]; n != nil && n.userNetwork() {
			user = true
		}
	}
	if !user {
		return nil
	}
	up := s.Upstreams
	if len(up) == 0 {
		up = hostResolvers()
	}
	id := s.ID
	r, err := m.plumb.StartDNS(m.NetNSPath(id), func(name string) []netip.Addr { return m.lookup(id, name) }, up)
	if err != nil {
		return err
	}
	m.resolvers[id] = r
	return nil
}

// hostResolvers are the host's nameservers, loopback ones included: the
// embedded server forwards from the host's namespace, where they answer.
func hostResolvers() []string {
	b, _ := os.ReadFile(hostResolvConf)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, a.String())
			}
		}
	}
	return out
}

// lookup answers a name for the container id: the containers attached to
// one of its user networks, by name, alias or short ID, with their address
// on that network.
func (m *Manager) lookup(id, name string) []netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil {
		return nil
	}
	var out []netip.Addr
	for _, ep := range s.Endpoints {
		n := m.networks[ep.NetworkID]
		if n == nil || !n.userNetwork() || !ep.attached() {
			continue
		}
		for _, t := range m.containers {
			te := t.endpoint(n.ID)
			if !t.Running || te == nil || !te.attached() {
				continue
			}
			if matches(t, te, name) {
				out = append(out, te.Addr)
			}
		}
	}
	return out
}

func matches(t *Sandbox, ep *Endpoint, name string) bool {
	if strings.EqualFold(strings.TrimPrefix(t.Name, "/"), name) || strings.EqualFold(shortID(t.ID), name) {
		return true
	}
	for _, a := range ep.Aliases {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}
