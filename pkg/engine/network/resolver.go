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
	r, err := m.plumb.StartDNS(m.NetNSPath(id), containerNames{m: m, id: id}, up)
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

// containerNames are the names container id resolves through its
// embedded DNS: those of the containers running on one of its user
// networks.
type containerNames struct {
	m  *Manager
	id string
}

// peers calls f with each attached endpoint on the asker's user networks
// (ep is the asker's own endpoint there).
func (c containerNames) peers(f func(n *Network, ep, te *Endpoint, t *Sandbox)) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[c.id]
	if s == nil {
		return
	}
	for _, ep := range s.Endpoints {
		n := m.networks[ep.NetworkID]
		if n == nil || !n.userNetwork() || !ep.attached() {
			continue
		}
		for _, t := range m.containers {
			if te := t.endpoint(n.ID); t.Running && te != nil && te.attached() {
				f(n, ep, te, t)
			}
		}
	}
}

// Lookup answers a name by container name, alias, short ID or hostname
// (dockerd's DNSNames), with the addresses on the shared network.
func (c containerNames) Lookup(name string) []netip.Addr {
	var out []netip.Addr
	c.peers(func(_ *Network, ep, te *Endpoint, t *Sandbox) {
		if matches(t, te, linkTarget(ep, name)) {
			out = append(out, te.Addr)
			if te.Addr6.IsValid() {
				out = append(out, te.Addr6)
			}
		}
	})
	return out
}

// Reverse answers an address with NAME.NETWORK, as dockerd's PTR records.
func (c containerNames) Reverse(a netip.Addr) []string {
	var out []string
	c.peers(func(n *Network, _, te *Endpoint, t *Sandbox) {
		if te.Addr == a || te.Addr6 == a {
			out = append(out, strings.TrimPrefix(t.Name, "/")+"."+n.Name)
		}
	})
	return out
}

// DNSNames are the names a container answers to on a user network, in
// dockerd's order: name, aliases, short ID, hostname.
func (s *Sandbox) DNSNames(ep *Endpoint) []string {
	out := []string{strings.TrimPrefix(s.Name, "/")}
	out = append(out, ep.Aliases...)
	out = append(out, shortID(s.ID))
	if s.Hostname != "" {
		out = append(out, s.Hostname)
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, n := range out {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	return uniq
}

// linkTarget is the container a name stands for through one of the
// asker's links on the network (the name itself when none).
func linkTarget(ep *Endpoint, name string) string {
	for _, l := range ep.Links {
		target, alias, _ := strings.Cut(l, ":")
		if alias == "" {
			alias = target
		}
		if strings.EqualFold(strings.TrimPrefix(alias, "/"), name) {
			return strings.TrimPrefix(target, "/")
		}
	}
	return name
}

func matches(t *Sandbox, ep *Endpoint, name string) bool {
	for _, n := range t.DNSNames(ep) {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
