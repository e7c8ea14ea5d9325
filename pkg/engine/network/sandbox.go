package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/network/bridge"
	"github.com/berthd/berth/pkg/engine/network/ipam"
	"github.com/berthd/berth/pkg/errdefs"
)

// Sandbox is a container's networking record, kept in
// DATA_ROOT/network/containers/<id>.json from create to remove. Its live
// part (addresses, interfaces, host ports) is set while the container runs.
type Sandbox struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Hostname  string      `json:"hostname,omitempty"` // --hostname, one of its DNS names
	Endpoints []*Endpoint `json:"endpoints"`
	Ports     []PortSpec  `json:"ports,omitempty"`
	// Upstreams are the --dns resolvers the embedded DNS forwards to (none:
	// the host's).
	Upstreams []string `json:"upstreams,omitempty"`
	// Live.
	Running  bool      `json:"running,omitempty"`
	Mappings []Mapping `json:"mappings,omitempty"`
	// nsAhead: the namespace is bound at its path ahead of the attach
	// (Reserve), spareHost the host end of the spare pair in it.
	nsAhead   bool
	spareHost string
}

// Endpoint is the container's interface on one network.
type Endpoint struct {
	NetworkID string     `json:"networkID"`
	Network   string     `json:"network"` // its name when connected, for messages
	WantIP    netip.Addr `json:"wantIP,omitzero"`
	WantIP6   netip.Addr `json:"wantIP6,omitzero"`
	WantMAC   string     `json:"wantMAC,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	// Links (--link NAME[:ALIAS] on a user network): ALIAS resolves to
	// NAME for this container only.
	Links []string `json:"links,omitempty"`
	// Live.
	IfName       string     `json:"ifName,omitempty"`
	Addr         netip.Addr `json:"addr,omitzero"`
	Addr6        netip.Addr `json:"addr6,omitzero"`
	MAC          string     `json:"mac,omitempty"`
	DefaultRoute bool       `json:"defaultRoute,omitempty"`
}

func (e *Endpoint) attached() bool { return e.Addr.IsValid() }

func (s *Sandbox) endpoint(networkID string) *Endpoint {
	for _, e := range s.Endpoints {
		if e.NetworkID == networkID {
			return e
		}
	}
	return nil
}

// Managed says whether a container in this mode gets a namespace from the
// manager (the default bridge and user networks); none, host and
// container:X do not.
func Managed(cfg *container.Config, hc *container.HostConfig) bool {
	if cfg != nil && cfg.NetworkDisabled {
		return false
	}
	m := hc.NetworkMode
	return !m.IsNone() && !m.IsHost() && !m.IsContainer()
}

// Prepare checks a create request's networking (networks exist, --ip in
// the subnet, port specs) and records the container's endpoints and ports.
// It returns whether the container is in a managed mode, and then saved,
// which waits for the record's durable write: that goes on in the
// background (1 ms here, beside the rest of the create), and the caller
// waits for it before it records the container itself, and before it
// Forgets the container after a failed create. Nothing is recorded when
// Prepare fails.
func (m *Manager) Prepare(id, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (managed bool, saved func() error, err error) {
	ports, err := ParsePorts(hc.PortBindings, cfg.ExposedPorts, hc.PublishAllPorts)
	if err != nil {
		return false, nil, err
	}
	var eps map[string]*network.EndpointSettings
	if nc != nil {
		eps = nc.EndpointsConfig
	}
	mode := hc.NetworkMode
	if !Managed(cfg, hc) {
		// dockerd says nothing of ports with "none"; they could not be
		// reached, so they are refused like with host and container:X.
		if len(ports) > 0 {
			return false, nil, invalidf("conflicting options: port publishing and the container type network mode")
		}
		for k := range eps {
			if k != string(mode) && !(mode.IsNone() && k == NameNone) && !(mode.IsHost() && k == NameHost) {
				return false, nil, invalidf("container cannot be connected to network %s in network mode %s", k, mode)
			}
		}
		return false, nil, nil
	}
	primary := string(mode)
	if primary == "" || primary == "default" {
		primary = NameBridge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Sandbox{ID: id, Name: name, Hostname: cfg.Hostname, Ports: ports}
	for _, a := range hc.DNS {
		s.Upstreams = append(s.Upstreams, a.String())
	}
	refs := []string{primary}
	var others []string
	for k := range eps {
		if k != primary && k != string(mode) {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	refs = append(refs, others...)
	for i, ref := range refs {
		n, err := m.getLocked(ref)
		if err != nil {
			// 400, not 404: the docker CLI takes a 404 at create for a
			// missing image and would try to pull it.
			return false, nil, invalidf("network %s not found", ref)
		}
		if n.Driver != "bridge" {
			return false, nil, invalidf("container cannot be connected to network %s in network mode %s", n.Name, mode)
		}
		if s.endpoint(n.ID) != nil {
			continue
		}
		settings := eps[ref]
		if i == 0 && settings == nil {
			settings = eps[string(mode)]
		}
		ep, err := newEndpoint(n, settings)
		if err != nil {
			return false, nil, err
		}
		if i == 0 && len(ep.Links) == 0 && n.userNetwork() {
			// API clients (docker-py) give links in HostConfig only.
			ep.Links = append([]string(nil), hc.Links...)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	if n := m.networks[s.Endpoints[0].NetworkID]; n.Internal && len(ports) > 0 {
		return false, nil, invalidf("published ports of a container on internal network %s: an internal network has no way out", n.Name)
	}
	rec := configRecord(s)
	path := m.configPath(id)
	done := make(chan error, 1)
	go func() { done <- saveJSON(path, rec) }()
	m.containers[id] = s
	return true, sync.OnceValue(func() error { return <-done }), nil
}

// newEndpoint checks one network's endpoint settings, with dockerd's
// messages.
func newEndpoint(n *Network, es *network.EndpointSettings) (*Endpoint, error) {
	ep := &Endpoint{NetworkID: n.ID, Network: n.Name}
	if es == nil {
		return ep, nil
	}
	if len(es.Aliases) > 0 {
		if n.Name == NameBridge {
			return nil, invalidf("network-scoped alias is supported only for containers in user defined networks")
		}
		ep.Aliases = append([]string(nil), es.Aliases...)
	}
	if len(es.Links) > 0 {
		if !n.userNetwork() {
			return nil, invalidf("links in the endpoint settings of network %s: they are for user-defined networks (on the default bridge, HostConfig.Links makes legacy links)", n.Name)
		}
		ep.Links = append([]string(nil), es.Links...)
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
		ip := es.IPAMConfig.IPv4Address
		switch {
		case n.Name == NameBridge:
			return nil, invalidf("user specified IP address is supported on user defined networks only")
		case !n.UserSubnet:
			return nil, invalidf("user specified IP address is supported only when connecting to networks with user configured subnets")
		case !ip.Is4() || !n.Subnet.Contains(ip):
			return nil, invalidf("invalid config for network %s: invalid endpoint settings:\nno configured subnet contains IP address %s", n.Name, ip)
		}
		ep.WantIP = ip
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv6Address.IsValid() {
		ip := es.IPAMConfig.IPv6Address
		switch {
		case !n.IPv6:
			return nil, invalidf("invalid config for network %s: invalid endpoint settings:\ncannot use IPv6 address %s: IPv6 is not enabled on this network", n.Name, ip)
		case !n.UserSubnet6:
			return nil, invalidf("user specified IP address is supported only when connecting to networks with user configured subnets")
		case ip.Is4() || !n.Subnet6.Contains(ip):
			return nil, invalidf("invalid config for network %s: invalid endpoint settings:\nno configured subnet contains IP address %s", n.Name, ip)
		}
		ep.WantIP6 = ip
	}
	if len(es.MacAddress) > 0 {
		if len(es.MacAddress) != 6 {
			return nil, invalidf("invalid MAC address %s", es.MacAddress)
		}
		ep.WantMAC = net.HardwareAddr(es.MacAddress).String()
	}
	return ep, nil
}

// Attach sets up a container's networking before its task starts: its
// namespace, an address and a veth pair on each of its networks, its
// published ports. A failure undoes all of it.
func (m *Manager) Attach(id string) error { return m.AttachNotify(id, nil) }

// AttachNotify is Attach that calls nsReady once the namespace is in place
// at NetNSPath(id), before the addresses and interfaces are made: a runtime
// may join it from then on, while the rest is done. nsReady is not called
// when there is nothing to attach or the namespace could not be made.
func (m *Manager) AttachNotify(id string, nsReady func()) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil {
		return nil
	}
	start := time.Now()
	m.sp = newSpans()
	defer func() { m.sp = nil }()
	if err := m.attachLocked(s, nsReady); err != nil {
		m.detachLocked(s)
		_ = m.applyLocked()
		return err
	}
	m.log.Debug("network attached", append([]any{"id", s.ID, "took", time.Since(start)}, m.sp.attrs...)...)
	m.refillSpareLater()
	return nil
}

func (m *Manager) attachLocked(s *Sandbox, nsReady func()) error {
	m.awaitGone(s.ID)
	spareHost := s.spareHost
	if !s.nsAhead {
		var err error
		if spareHost, err = m.netnsLocked(m.NetNSPath(s.ID)); err != nil {
			return err
		}
	}
	s.nsAhead, s.spareHost = false, ""
	m.sp.mark("netns")
	if nsReady != nil {
		nsReady()
	}
	for _, ep := range s.Endpoints {
		if err := m.attachEndpointLocked(s, ep, spareHost); err != nil {
			return err
		}
		spareHost = ""
	}
	s.Running = true
	if err := m.startResolverLocked(s); err != nil {
		return err
	}
	m.sp.mark("dns")
	if pe := m.portEndpointLocked(s); pe != nil && len(s.Ports) > 0 {
		for _, p := range s.Ports {
			if p.HostIP.Is6() && !pe.Addr6.IsValid() {
				return invalidf("publishing on IPv6 address %s: network %s has no IPv6 (--ipv6)", p.HostIP, pe.Network)
			}
		}
		mappings, held, err := allocate(s.Ports, func(proto string, ip netip.Addr, port uint16) bool {
			for _, o := range m.containers {
				for _, mp := range o.Mappings {
					if o != s && mp.Proto == proto && mp.HostPort == port && overlaps(mp.HostIP, ip) {
						return true
					}
				}
			}
			return false
		}, holdDual(m.plumb.HoldPort, pe.Addr6.IsValid()))
		if err != nil {
			return err
		}
		s.Mappings, m.held[s.ID] = mappings, held
	}
	m.sp.mark("ports")
	if err := m.saveLive(s); err != nil {
		return err
	}
	m.sp.mark("record")
	err := m.applyLocked()
	m.sp.mark("nft")
	return err
}

// attachEndpointLocked gives ep an address and its veth pair in the
// container's namespace. spareHost, when not empty, is the host end of a pair made ahead whose
// other end is eth0 in the namespace.
func (m *Manager) attachEndpointLocked(s *Sandbox, ep *Endpoint, spareHost string) error {
	n := m.networks[ep.NetworkID]
	if n == nil {
		return &errorMsg{msg: fmt.Sprintf("network %s not found", ep.Network), class: errdefs.ErrNotFound}
	}
	if err := m.ensureBridgeLocked(n); err != nil {
		return err
	}
	m.sp.mark("bridge")
	addr, err := m.ipam.Allocate(n.ID, n.pool(), s.ID, ep.WantIP)
	if err != nil {
		if errors.Is(err, errdefs.ErrFailedPrecondition) {
			return &errorMsg{msg: fmt.Sprintf("no available IPv4 addresses on this network's address pools: %s (%s)", n.Name, n.ID), class: errdefs.ErrFailedPrecondition}
		}
		return err
	}
	mac := ep.WantMAC
	if mac == "" {
		// 02:42 and the address, as dockerd did: unique on the network.
		a := addr.As4()
		mac = net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}.String()
	}
	var addr6 netip.Addr
	if n.IPv6 {
		if addr6, err = m.ipam.Allocate(ipam.V6(n.ID), n.pool6(), s.ID, ep.WantIP6); err != nil {
			_ = m.ipam.Release(n.ID, s.ID)
			if errors.Is(err, errdefs.ErrFailedPrecondition) {
				return &errorMsg{msg: fmt.Sprintf("no available IPv6 addresses on this network's address pools: %s (%s)", n.Name, n.ID), class: errdefs.ErrFailedPrecondition}
			}
			return err
		}
	}
	m.sp.mark("lease")
	hw, _ := net.ParseMAC(mac)
	used := map[string]bool{}
	defaultRoute := !n.Internal
	for _, o := range s.Endpoints {
		if o.attached() {
			used[o.IfName] = true
			if o.DefaultRoute {
				defaultRoute = false
			}
		}
	}
	ifName := ""
	for i := 0; ; i++ {
		if ifName = fmt.Sprintf("eth%d", i); !used[ifName] {
			break
		}
	}
	be := bridge.Endpoint{Bridge: n.Bridge, HostName: hostName(s.ID, n.ID), IfName: ifName, NetNS: m.NetNSPath(s.ID),
		Addr: addr, Bits: n.Subnet.Bits(), Addr6: addr6, Bits6: n.Subnet6.Bits(), MAC: hw, MTU: n.MTU}
	if ifName == spareIf {
		be.Spare = spareHost
	}
	if defaultRoute {
		be.Gateway = n.Gateway
		if addr6.IsValid() {
			be.Gateway6 = n.Gateway6
		}
	}
	err = m.plumb.AddEndpoint(be)
	if errors.Is(err, bridge.ErrNoBridge) {
		// Deleted behind engined's back since it was last made: again.
		delete(m.bridgesUp, n.Bridge)
		if err = m.ensureBridgeLocked(n); err == nil {
			err = m.plumb.AddEndpoint(be)
		}
	}
	if err != nil {
		_ = m.ipam.Release(n.ID, s.ID)
		_ = m.ipam.Release(ipam.V6(n.ID), s.ID)
		return err
	}
	m.sp.mark("veth")
	ep.IfName, ep.Addr, ep.Addr6, ep.MAC, ep.DefaultRoute = ifName, addr, addr6, mac, defaultRoute
	return nil
}

// portEndpointLocked is the endpoint published ports lead to: the first
// attached one on a network that is not internal.
func (m *Manager) portEndpointLocked(s *Sandbox) *Endpoint {
	if !s.Running {
		return nil
	}
	for _, ep := range s.Endpoints {
		if n := m.networks[ep.NetworkID]; n != nil && ep.attached() && !n.Internal {
			return ep
		}
	}
	return nil
}

// detachLocked removes everything Attach made for s. It goes by the names
// derived from the IDs, so it also cleans what an attach cut short by a
// crash left.
func (m *Manager) detachLocked(s *Sandbox) { m.detachSandboxLocked(s, false) }

// detachSandboxLocked is detachLocked; gone leaves the veths and the
// namespace to a goroutine (DetachGone).
func (m *Manager) detachSandboxLocked(s *Sandbox, gone bool) {
	s.nsAhead, s.spareHost = false, ""
	closeAll(m.held[s.ID])
	delete(m.held, s.ID)
	if r := m.resolvers[s.ID]; r != nil {
		r.Close()
		delete(m.resolvers, s.ID)
	}
	m.sp.mark("dns")
	var links []string
	for _, ep := range s.Endpoints {
		if gone && ep.attached() {
			links = append(links, hostName(s.ID, ep.NetworkID))
			m.releaseEndpointLocked(s, ep)
			continue
		}
		m.detachEndpointLocked(s, ep, false)
	}
	if gone {
		path, id := m.NetNSPath(s.ID), s.ID
		m.teardownLater(id, func() {
			// The namespace first: its end of each pair goes with it.
			if err := m.plumb.RemoveNetNS(path); err != nil {
				m.log.Warn("remove network namespace", "id", id, "err", err)
			}
			for _, l := range links {
				if err := m.plumb.DeleteLinkLater(l); err != nil {
					m.log.Warn("remove veth", "id", id, "link", l, "err", err)
				}
			}
		})
	} else if err := m.plumb.RemoveNetNS(m.NetNSPath(s.ID)); err != nil {
		m.log.Warn("remove network namespace", "id", s.ID, "err", err)
	}
	m.sp.mark("netns")
	s.Running, s.Mappings = false, nil
	if err := m.saveLive(s); err != nil {
		m.log.Warn("save network record", "id", s.ID, "err", err)
	}
	m.sp.mark("record")
}

func (m *Manager) detachEndpointLocked(s *Sandbox, ep *Endpoint, inside bool) {
	if inside && ep.IfName != "" {
		if err := m.plumb.RemoveEndpoint(m.NetNSPath(s.ID), ep.IfName); err != nil {
			m.log.Warn("remove interface", "id", s.ID, "if", ep.IfName, "err", err)
		}
	}
	del := m.plumb.DeleteLink
	if !inside {
		// The container is gone: its veth need not be gone before the
		// stop returns.
		del = m.plumb.DeleteLinkLater
	}
	if err := del(hostName(s.ID, ep.NetworkID)); err != nil {
		m.log.Warn("remove veth", "id", s.ID, "network", ep.Network, "err", err)
	}
	m.sp.mark("veth")
	m.releaseEndpointLocked(s, ep)
}

// releaseEndpointLocked gives ep's addresses back and forgets them.
func (m *Manager) releaseEndpointLocked(s *Sandbox, ep *Endpoint) {
	for _, pool := range []string{ep.NetworkID, ipam.V6(ep.NetworkID)} {
		if err := m.ipam.Release(pool, s.ID); err != nil {
			m.log.Warn("release address", "id", s.ID, "network", ep.Network, "err", err)
		}
	}
	m.sp.mark("lease")
	ep.IfName, ep.Addr, ep.Addr6, ep.MAC, ep.DefaultRoute = "", netip.Addr{}, netip.Addr{}, "", false
}

// Detach removes a container's networking when its task is gone: veths,
// leases, the namespace, its published ports.
func (m *Manager) Detach(id string) { m.release(id, false) }

// Forget detaches a removed container and drops its record.
func (m *Manager) Forget(id string) { m.release(id, true) }

// DetachGone is Detach for a container whose removal follows its exit at
// once (--rm), so that no start of it can come: its addresses and
// published ports are released before it returns, as Detach does, but
// its veths and namespace are deleted goneDelay later, off the path to
// the exit's report (0.3 to 0.9 ms here) and after the client's own exit.
// Close deletes those still pending; a crash leaves them to the next
// start's Reconcile, as any namespace of a container that does not run.
func (m *Manager) DetachGone(id string) { m.releaseSandbox(id, false, true) }

func (m *Manager) release(id string, forget bool) { m.releaseSandbox(id, forget, false) }

func (m *Manager) releaseSandbox(id string, forget, gone bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil {
		return
	}
	start := time.Now()
	m.sp = newSpans()
	defer func() { m.sp = nil }()
	if s.nsAhead {
		m.unreserveLocked(s)
	}
	if s.Running {
		// Else released at its stop already (a --rm container's removal
		// comes right after the stop's detach): the lookups of a veth and a
		// namespace that are gone cost 0.5 ms here, more while the kernel
		// still deletes the veth the stop let go.
		m.detachSandboxLocked(s, gone)
	}
	if forget {
		delete(m.containers, id)
		m.removeRecordLater(id)
		m.sp.mark("forget")
	}
	if err := m.applyLocked(); err != nil {
		m.log.Warn("nftables", "err", err)
	}
	m.sp.mark("nft")
	m.log.Debug("network detached", append([]any{"id", id, "forget", forget, "took", time.Since(start)}, m.sp.attrs...)...)
}

// Reserve binds a created container's namespace at NetNSPath(id) ahead of
// its attach, so that its task can be created before the start (the
// engine's tasks made ahead). Nothing else is attached: no address, no
// veth in use, no event; the attach at the start takes the namespace as
// it is. Idempotent; a container without a managed network has nothing to
// reserve.
func (m *Manager) Reserve(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil || s.Running || s.nsAhead {
		return nil
	}
	m.awaitGone(s.ID)
	spareHost, err := m.netnsLocked(m.NetNSPath(s.ID))
	if err != nil {
		return err
	}
	s.nsAhead, s.spareHost = true, spareHost
	m.refillSpareLater()
	return nil
}

// Unreserve undoes Reserve when no attach took the namespace.
func (m *Manager) Unreserve(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.containers[id]; s != nil && s.nsAhead {
		m.unreserveLocked(s)
	}
}

func (m *Manager) unreserveLocked(s *Sandbox) {
	s.nsAhead, s.spareHost = false, ""
	if err := m.plumb.RemoveNetNS(m.NetNSPath(s.ID)); err != nil {
		m.log.Warn("remove network namespace", "id", s.ID, "err", err)
	}
}

// Reconcile makes the host agree with the containers after an engine
// start: containers that exist no more lose their record, those not
// running lose their veths, namespace and leases (a stop or remove that
// happened while engined was down, or an attach cut short), namespaces of
// no running container are released, and the nftables table is rewritten.
func (m *Manager) Reconcile(exists, running func(id string) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.containers {
		switch {
		case !exists(id):
			m.detachLocked(s)
			delete(m.containers, id)
			m.removeRecord(id)
		case !running(id):
			m.detachLocked(s)
		case s.Running:
			// The resolver and the held ports died with the old engined.
			if err := m.startResolverLocked(s); err != nil {
				m.log.Warn("embedded DNS", "id", id, "err", err)
			}
			pe := m.portEndpointLocked(s)
			hold := holdDual(m.plumb.HoldPort, pe != nil && pe.Addr6.IsValid())
			for _, mp := range s.Mappings {
				h, err := hold(mp.Proto, mp.HostIP, mp.HostPort)
				if err != nil {
					m.log.Warn("hold published port", "id", id, "port", mp.HostPort, "err", err)
					continue
				}
				m.held[id] = append(m.held[id], h)
			}
		}
	}
	names, err := m.plumb.ListNetNS(m.NetNSDir())
	if err != nil {
		return err
	}
	for _, id := range names {
		if s := m.containers[id]; s == nil || !s.Running {
			if err := m.plumb.RemoveNetNS(m.NetNSPath(id)); err != nil {
				m.log.Warn("remove stale network namespace", "id", id, "err", err)
			}
		}
	}
	// The IPv6 pools are kept as NETWORK.6.
	netOf := func(pool string) string { return strings.TrimSuffix(pool, ipam.V6("")) }
	n, err := m.ipam.Reconcile(func(pool string) bool { return m.networks[netOf(pool)] != nil }, func(pool, owner string) bool {
		s := m.containers[owner]
		if s == nil || !s.Running {
			return false
		}
		ep := s.endpoint(netOf(pool))
		return ep != nil && ep.attached()
	})
	if err != nil {
		return err
	}
	if n > 0 {
		m.log.Info("released stale address leases", "count", n)
	}
	m.refillSpare()
	return m.applyLocked()
}

// Connect adds a network to a container (docker network connect); a
// running container gets the interface at once.
func (m *Manager) Connect(netRef, id string, es *network.EndpointSettings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(netRef)
	if err != nil {
		return err
	}
	s := m.containers[id]
	if s == nil {
		return &errorMsg{msg: "container cannot be connected to multiple networks with one of the networks in private (none) mode, or to a host or container network", class: errdefs.ErrInvalidArgument}
	}
	if n.Driver != "bridge" {
		return &errorMsg{msg: "container cannot be disconnected from host network or connected to host network", class: errdefs.ErrInvalidArgument}
	}
	if s.endpoint(n.ID) != nil {
		return &errorMsg{msg: fmt.Sprintf("endpoint with name %s already exists in network %s", strings.TrimPrefix(s.Name, "/"), n.Name), class: errdefs.ErrConflict}
	}
	ep, err := newEndpoint(n, es)
	if err != nil {
		return err
	}
	s.Endpoints = append(s.Endpoints, ep)
	if s.Running {
		if err := m.attachEndpointLocked(s, ep, ""); err != nil {
			s.Endpoints = s.Endpoints[:len(s.Endpoints)-1]
			return err
		}
		if err := m.startResolverLocked(s); err != nil {
			m.log.Warn("embedded DNS", "id", s.ID, "err", err)
		}
	}
	if err := m.saveSandbox(s); err != nil {
		return err
	}
	return m.applyLocked()
}

// Disconnect removes a network from a container.
func (m *Manager) Disconnect(netRef, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(netRef)
	if err != nil {
		return err
	}
	s := m.containers[id]
	var ep *Endpoint
	if s != nil {
		ep = s.endpoint(n.ID)
	}
	if ep == nil {
		return &errorMsg{msg: fmt.Sprintf("container %s is not connected to network %s", id, n.Name), class: errdefs.ErrInvalidArgument}
	}
	if ep.attached() {
		m.detachEndpointLocked(s, ep, true)
	}
	for i, e := range s.Endpoints {
		if e == ep {
			s.Endpoints = append(s.Endpoints[:i], s.Endpoints[i+1:]...)
			break
		}
	}
	if err := m.saveSandbox(s); err != nil {
		return err
	}
	return m.applyLocked()
}

// EndpointInfo is one network of a container, for inspect.
type EndpointInfo struct {
	Network    Network
	EndpointID string
	Addr       netip.Addr
	MAC        string
	WantIP     netip.Addr
	Gateway    netip.Addr
	Addr6      netip.Addr
	WantIP6    netip.Addr
	Gateway6   netip.Addr
	Aliases    []string
	// DNSNames: what the container answers to on a user network (nil on
	// the default bridge).
	DNSNames []string
}

// Info is a container's networking, for inspect and ps.
type Info struct {
	SandboxKey string
	Endpoints  []EndpointInfo
	Ports      []PortSpec
	Mappings   []Mapping
	Running    bool
	// PortsIPv6: the ports without a host address are published on ::
	// too (the container has IPv6 where they lead).
	PortsIPv6 bool
}

// Info returns the container's networking; false when it has none managed.
func (m *Manager) Info(id string) (Info, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.containers[id]
	if s == nil {
		return Info{}, false
	}
	out := Info{Ports: s.Ports, Mappings: s.Mappings, Running: s.Running}
	if s.Running {
		out.SandboxKey = m.NetNSPath(id)
	}
	if pe := m.portEndpointLocked(s); pe != nil {
		out.PortsIPv6 = pe.Addr6.IsValid()
	}
	for _, ep := range s.Endpoints {
		n := m.networks[ep.NetworkID]
		if n == nil {
			n = &Network{ID: ep.NetworkID, Name: ep.Network}
		}
		ei := EndpointInfo{Network: *n, Addr: ep.Addr, MAC: ep.MAC, WantIP: ep.WantIP, Addr6: ep.Addr6, WantIP6: ep.WantIP6, Aliases: ep.Aliases}
		if n.userNetwork() {
			ei.DNSNames = s.DNSNames(ep)
		}
		if ep.attached() {
			ei.EndpointID = endpointID(id, ep.NetworkID)
			ei.Gateway = n.Gateway
			if ep.Addr6.IsValid() {
				ei.Gateway6 = n.Gateway6
			}
		}
		out.Endpoints = append(out.Endpoints, ei)
	}
	return out, true
}

// Member is an attached container of a network, for network inspect.
type Member struct {
	ContainerID, Name, EndpointID, MAC string
	Addr, Addr6                        netip.Prefix
}

// Members lists the containers attached to a network.
func (m *Manager) Members(networkID string) []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.networks[networkID]
	if n == nil {
		return nil
	}
	var out []Member
	for _, s := range m.activeLocked(n) {
		ep := s.endpoint(n.ID)
		mb := Member{ContainerID: s.ID, Name: strings.TrimPrefix(s.Name, "/"), EndpointID: endpointID(s.ID, n.ID), MAC: ep.MAC, Addr: netip.PrefixFrom(ep.Addr, n.Subnet.Bits())}
		if ep.Addr6.IsValid() {
			mb.Addr6 = netip.PrefixFrom(ep.Addr6, n.Subnet6.Bits())
		}
		out = append(out, mb)
	}
	return out
}

// UsedBy reports whether any container (running or not) has an endpoint
// on the network, for the "dangling" filter.
func (m *Manager) UsedBy(networkID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.containers {
		if s.endpoint(networkID) != nil {
			return true
		}
	}
	return false
}
