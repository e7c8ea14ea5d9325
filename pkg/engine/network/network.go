// Package network is the engine's networking: the default "bridge" network
// and user-defined bridge networks (with their bridges), IPAM (package
// ipam), one network namespace per container held by the engine and handed
// to the runtime by path, veth pairs into it (package bridge), and NAT,
// published ports and isolation as nftables rules in a table of our own
// (package nft). Everything it makes for a container is keyed by the
// container's ID, so that it can be removed again after a crash (Reconcile).
package network

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/engine/network/bridge"
	"github.com/berthd/berth/pkg/engine/network/ipam"
	"github.com/berthd/berth/pkg/engine/network/nft"
	"github.com/berthd/berth/pkg/errdefs"
)

// Names of the predefined networks, as dockerd's.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// Options of bridge networks that berth applies.
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptMTU        = "com.docker.network.driver.mtu"
)

// Config of the manager.
type Config struct {
	DataRoot string // DATA_ROOT: networks, endpoints, leases under network/
	ExecRoot string // EXEC_ROOT: namespaces under netns/
	Bridge   string // the default network's bridge (berth0)
	Table    string // the nftables table (berth)
	Log      *slog.Logger
	Plumbing Plumbing // nil: Host
	// Spares: make each container's namespace and first veth pair ahead
	// of its start, in the background (spare.go).
	Spares bool
	// NetNSSysctls are written in every namespace the manager makes (the
	// engine's defaults, oci.NetworkSysctls), before any container is in
	// it: a container in a user namespace could not write them itself.
	NetNSSysctls map[string]string
}

// Network is a network's record.
type Network struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Driver     string            `json:"driver"` // bridge, host, null
	Created    time.Time         `json:"created"`
	Subnet     netip.Prefix      `json:"subnet,omitzero"`
	IPRange    netip.Prefix      `json:"ipRange,omitzero"`
	Gateway    netip.Addr        `json:"gateway,omitzero"`
	UserSubnet bool              `json:"userSubnet,omitempty"` // --subnet given: --ip allowed
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	Bridge     string            `json:"bridge,omitempty"`
	MTU        int               `json:"mtu,omitempty"`
	Options    map[string]string `json:"options,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// IPv6 (--ipv6): a second pool, given (--subnet) or a ULA /64 picked.
	IPv6        bool         `json:"ipv6,omitempty"`
	Subnet6     netip.Prefix `json:"subnet6,omitzero"`
	IPRange6    netip.Prefix `json:"ipRange6,omitzero"`
	Gateway6    netip.Addr   `json:"gateway6,omitzero"`
	UserSubnet6 bool         `json:"userSubnet6,omitempty"`
}

// Predefined says whether the network is one of bridge, host, none.
func (n *Network) Predefined() bool {
	return n.Name == NameBridge || n.Name == NameHost || n.Name == NameNone
}

func (n *Network) pool() ipam.Pool {
	return ipam.Pool{Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway}
}

func (n *Network) pool6() ipam.Pool {
	return ipam.Pool{Subnet: n.Subnet6, Range: n.IPRange6, Gateway: n.Gateway6}
}

// Manager owns the networks and the containers' endpoints.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	plumb Plumbing
	ipam  *ipam.Store

	mu         sync.Mutex
	networks   map[string]*Network    // by ID
	containers map[string]*Sandbox    // by container ID
	resolvers  map[string]io.Closer   // embedded DNS servers, by container ID
	held       map[string][]io.Closer // sockets holding published host ports
	sp         *spans                 // the steps of the attach under way, for the debug log
	// applied is the state the table was last given by this engined (nil:
	// none yet, or the last apply failed): an unchanged state is not
	// applied again. A table changed behind engined's back (nft flush
	// ruleset) is rewritten at its next start or at the next change.
	applied *nft.State

	// bridgesUp are the bridges this engined has made or checked.
	bridgesUp map[string]bool

	// The spare namespace and pair (spare.go).
	spares    chan spare
	spareMu   sync.Mutex
	spareBusy bool
	// refillPending: a refill is due (refillSpareLater).
	refillPending bool
	spareClosed   bool
	spareWG       sync.WaitGroup

	// gone: the deletions of the interfaces and namespaces of containers
	// removed at their exit, pending or under way (DetachGone, gone.go).
	goneMu sync.Mutex
	gone   map[string]*teardown
}

func (m *Manager) dir(parts ...string) string {
	return filepath.Join(append([]string{m.cfg.DataRoot, "network"}, parts...)...)
}

// NetNSDir holds the containers' namespaces.
func (m *Manager) NetNSDir() string { return filepath.Join(m.cfg.ExecRoot, "netns") }

// NetNSSysctls are the sysctls every namespace the manager makes has.
func (m *Manager) NetNSSysctls() map[string]string { return m.cfg.NetNSSysctls }

// NetNSPath is where a container's namespace is held.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.NetNSDir(), id) }

// New loads the networks and endpoints, creates the predefined networks on
// the first start (the default bridge on a subnet no host route uses), and
// brings up the bridges. Call Reconcile once the containers are known.
func New(cfg Config) (*Manager, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "berth0"
	}
	if cfg.Table == "" {
		cfg.Table = "berth"
	}
	if cfg.Plumbing == nil {
		cfg.Plumbing = Host{}
	}
	m := &Manager{cfg: cfg, log: cfg.Log, plumb: cfg.Plumbing, networks: map[string]*Network{}, containers: map[string]*Sandbox{}, resolvers: map[string]io.Closer{}, held: map[string][]io.Closer{}, spares: make(chan spare, 1), bridgesUp: map[string]bool{}}
	for _, d := range []string{m.dir("networks"), m.dir("containers"), m.NetNSDir(), filepath.Dir(m.livePath(""))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	var err error
	if m.ipam, err = ipam.Open(m.dir("ipam")); err != nil {
		return nil, err
	}
	if err := loadAll(m.dir("networks"), func(n *Network) { m.networks[n.ID] = n }); err != nil {
		return nil, err
	}
	if err := loadAll(m.dir("containers"), func(s *Sandbox) { m.loadLive(s); m.containers[s.ID] = s }); err != nil {
		return nil, err
	}
	if err := m.predefined(); err != nil {
		return nil, err
	}
	if err := m.plumb.EnableForwarding(); err != nil {
		return nil, err
	}
	for _, n := range m.networks {
		if n.Driver == "bridge" {
			if err := m.ensureBridgeLocked(n); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (n *Network) bridge() bridge.Bridge {
	return bridge.Bridge{Name: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Subnet6: n.Subnet6, Gateway6: n.Gateway6, MTU: n.MTU}
}

func loadAll[T any](dir string, add func(*T)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("network: %w", err)
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("network: %s: %w", e.Name(), err)
		}
		add(v)
	}
	return nil
}

func saveJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

func (m *Manager) saveNetwork(n *Network) error {
	return saveJSON(m.dir("networks", n.ID+".json"), n)
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// predefined creates bridge, host and none when missing.
func (m *Manager) predefined() error {
	have := map[string]bool{}
	for _, n := range m.networks {
		have[n.Name] = true
	}
	for _, d := range []struct{ name, driver string }{{NameBridge, "bridge"}, {NameHost, "host"}, {NameNone, "null"}} {
		if have[d.name] {
			continue
		}
		n := &Network{ID: newID(), Name: d.name, Driver: d.driver, Created: time.Now().UTC()}
		if d.driver == "bridge" {
			subnet, gateway, err := m.defaultSubnet()
			if err != nil {
				return err
			}
			n.Subnet, n.Gateway, n.Bridge = subnet, gateway, m.cfg.Bridge
			n.Options = map[string]string{"com.docker.network.bridge.default_bridge": "true", OptBridgeName: m.cfg.Bridge}
		}
		if err := m.saveNetwork(n); err != nil {
			return err
		}
		m.networks[n.ID] = n
	}
	return nil
}

// defaultSubnet is the default bridge network's subnet and gateway: those
// of its bridge when the bridge is there with an IPv4 address already (left
// by an engined whose data root is gone, or made by hand), as dockerd takes
// docker0's, else a free default pool. Taking a new pool would add a
// second address to that bridge, and one more at every such start, until
// no pool is free.
func (m *Manager) defaultSubnet() (netip.Prefix, netip.Addr, error) {
	if a, ok := m.plumb.BridgeAddr(m.cfg.Bridge); ok {
		return a.Masked(), a.Addr(), nil
	}
	subnet, err := m.freeSubnet()
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	return subnet, subnet.Addr().Next(), nil
}

// freeSubnet picks a default pool that neither a host route nor another
// network uses. m.mu is held (or the manager is not shared yet).
func (m *Manager) freeSubnet() (netip.Prefix, error) {
	used, err := m.plumb.Routes()
	if err != nil {
		return netip.Prefix{}, err
	}
	for _, n := range m.networks {
		if n.Subnet.IsValid() {
			used = append(used, n.Subnet)
		}
	}
	p, ok := pickSubnet(used)
	if !ok {
		return netip.Prefix{}, &errorMsg{msg: "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network", class: errdefs.ErrFailedPrecondition}
	}
	return p, nil
}

// errorMsg is an error whose text is exactly dockerd's.
type errorMsg struct {
	msg   string
	class error
}

func (e *errorMsg) Error() string { return e.msg }
func (e *errorMsg) Unwrap() error { return e.class }

func invalidf(format string, args ...any) error {
	return &errorMsg{msg: fmt.Sprintf(format, args...), class: errdefs.ErrInvalidArgument}
}

func notImplemented(format string, args ...any) error {
	return &errorMsg{msg: fmt.Sprintf(format, args...), class: errdefs.ErrNotImplemented}
}

// ErrNetworkNotFound is "network X not found" (404).
func ErrNetworkNotFound(ref string) error {
	return &errorMsg{msg: fmt.Sprintf("network %s not found", ref), class: errdefs.ErrNotFound}
}

// getLocked finds a network by full ID, name, or unique ID prefix, as
// dockerd does.
func (m *Manager) getLocked(ref string) (*Network, error) {
	if n, ok := m.networks[ref]; ok {
		return n, nil
	}
	for _, n := range m.networks {
		if n.Name == ref {
			return n, nil
		}
	}
	var found *Network
	if ref != "" {
		for id, n := range m.networks {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, &errorMsg{msg: fmt.Sprintf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2), class: errdefs.ErrInvalidArgument}
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, ErrNetworkNotFound(ref)
	}
	return found, nil
}

// Get returns a copy of a network.
func (m *Manager) Get(ref string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(ref)
	if err != nil {
		return Network{}, err
	}
	return *n, nil
}

// List returns copies of every network, by name.
func (m *Manager) List() []Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Network, 0, len(m.networks))
	for _, n := range m.networks {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateOptions is a network create request, as berth supports it.
type CreateOptions struct {
	Name       string
	Subnet     netip.Prefix
	IPRange    netip.Prefix
	Gateway    netip.Addr
	Internal   bool
	Attachable bool
	Options    map[string]string
	Labels     map[string]string
	// IPv6 (--ipv6) with its optional pool; Subnet6 zero: a ULA /64 is
	// picked.
	IPv6     bool
	Subnet6  netip.Prefix
	IPRange6 netip.Prefix
	Gateway6 netip.Addr
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Create makes a user-defined bridge network and its bridge. Nothing is
// left of a create that fails.
func (m *Manager) Create(o CreateOptions) (Network, error) {
	if !validName.MatchString(o.Name) {
		return Network{}, invalidf("invalid network name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name)
	}
	n := &Network{ID: newID(), Name: o.Name, Driver: "bridge", Created: time.Now().UTC(), Internal: o.Internal,
		Attachable: o.Attachable, Labels: o.Labels, Options: o.Options, IPRange: o.IPRange, Gateway: o.Gateway}
	n.Bridge = "br-" + n.ID[:12]
	for k, v := range o.Options {
		switch k {
		case OptBridgeName:
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t") {
				return Network{}, invalidf("invalid bridge name %q", v)
			}
			n.Bridge = v
		case OptMTU:
			mtu, err := strconv.Atoi(v)
			if err != nil || mtu < 68 || mtu > 65535 {
				return Network{}, invalidf("invalid MTU %q: it must be a number from 68 to 65535", v)
			}
			n.MTU = mtu
		default:
			return Network{}, notImplemented("network option %s is not supported by berth (supported: %s, %s)", k, OptBridgeName, OptMTU)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, other := range m.networks {
		if other.Name == o.Name {
			return Network{}, &errorMsg{msg: fmt.Sprintf("network with name %s already exists", o.Name), class: errdefs.ErrConflict}
		}
		if other.Bridge != "" && other.Bridge == n.Bridge {
			return Network{}, &errorMsg{msg: fmt.Sprintf("bridge name %s is used by network %s", n.Bridge, other.Name), class: errdefs.ErrConflict}
		}
	}
	if o.Subnet.IsValid() {
		if !o.Subnet.Addr().Is4() {
			return Network{}, invalidf("invalid network config: %s is not an IPv4 subnet", o.Subnet)
		}
		n.Subnet, n.UserSubnet = o.Subnet.Masked(), true
		for _, other := range m.networks {
			if other.Subnet.IsValid() && other.Subnet.Overlaps(n.Subnet) {
				return Network{}, &errorMsg{msg: "invalid pool request: Pool overlaps with other one on this address space", class: errdefs.ErrConflict}
			}
		}
	} else {
		if o.IPRange.IsValid() || o.Gateway.IsValid() {
			return Network{}, invalidf("invalid pool request: an ip-range or gateway needs a subnet (--subnet)")
		}
		var err error
		if n.Subnet, err = m.freeSubnet(); err != nil {
			return Network{}, err
		}
	}
	if !n.Gateway.IsValid() {
		n.Gateway = n.Subnet.Addr().Next()
	}
	if err := n.pool().Validate(); err != nil {
		return Network{}, err
	}
	if err := m.ipv6Locked(n, o); err != nil {
		return Network{}, err
	}
	if m.plumb.LinkExists(n.Bridge) {
		return Network{}, &errorMsg{msg: fmt.Sprintf("the host already has a link named %s", n.Bridge), class: errdefs.ErrConflict}
	}
	if err := m.ensureBridgeLocked(n); err != nil {
		m.plumb.DeleteLink(n.Bridge)
		return Network{}, err
	}
	if err := m.saveNetwork(n); err != nil {
		delete(m.bridgesUp, n.Bridge)
		m.plumb.DeleteLink(n.Bridge)
		return Network{}, err
	}
	m.networks[n.ID] = n
	if err := m.applyLocked(); err != nil {
		m.removeNetworkLocked(n)
		return Network{}, err
	}
	return *n, nil
}

// activeLocked lists the containers with an attached endpoint on n.
func (m *Manager) activeLocked(n *Network) []*Sandbox {
	var out []*Sandbox
	for _, s := range m.containers {
		if ep := s.endpoint(n.ID); ep != nil && ep.attached() {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes a user-defined network that no running container uses.
func (m *Manager) Remove(ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(ref)
	if err != nil {
		return err
	}
	if n.Predefined() {
		return &errorMsg{msg: fmt.Sprintf("%s is a pre-defined network and cannot be removed", n.Name), class: errdefs.ErrConflict}
	}
	if act := m.activeLocked(n); len(act) > 0 {
		return &errorMsg{msg: fmt.Sprintf("error while removing network: network %s has active endpoints (name:%q id:%q)", n.Name, strings.TrimPrefix(act[0].Name, "/"), shortID(act[0].ID)), class: errdefs.ErrConflict}
	}
	return m.removeNetworkLocked(n)
}

// ensureBridgeLocked makes n's bridge, once per engined unless it goes:
// its checks cost ~1 ms of each attach otherwise.
func (m *Manager) ensureBridgeLocked(n *Network) error {
	if m.bridgesUp[n.Bridge] {
		return nil
	}
	if err := m.plumb.EnsureBridge(n.bridge()); err != nil {
		return err
	}
	m.bridgesUp[n.Bridge] = true
	return nil
}

func (m *Manager) removeNetworkLocked(n *Network) error {
	delete(m.bridgesUp, n.Bridge)
	if err := m.plumb.DeleteLink(n.Bridge); err != nil {
		return err
	}
	if err := os.Remove(m.dir("networks", n.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	delete(m.networks, n.ID)
	_ = m.ipam.Drop(n.ID)
	_ = m.ipam.Drop(ipam.V6(n.ID))
	return m.applyLocked()
}

// Prune removes the user-defined networks no container is attached to
// (running or not, as dockerd) for which keep says yes; it returns them.
func (m *Manager) Prune(keep func(Network) bool) ([]Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Network
	for _, n := range m.networks {
		if n.Predefined() || !keep(*n) {
			continue
		}
		used := false
		for _, s := range m.containers {
			if s.endpoint(n.ID) != nil {
				used = true
			}
		}
		if used {
			continue
		}
		if err := m.removeNetworkLocked(n); err != nil {
			return out, err
		}
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// applyLocked writes the nftables table from the networks and the attached
// endpoints.
func (m *Manager) applyLocked() error {
	var st nft.State
	for _, n := range m.networks {
		if n.Driver == "bridge" {
			st.Networks = append(st.Networks, nft.Network{Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal,
				Subnet6: n.Subnet6, Gateway6: n.Gateway6})
		}
	}
	for _, s := range m.containers {
		ep := m.portEndpointLocked(s)
		if ep == nil {
			continue
		}
		for _, p := range s.Mappings {
			// A port without a host address is published on both
			// families when the container has IPv6; one on an address
			// only in that address's family.
			if !p.HostIP.Is6() {
				st.Ports = append(st.Ports, nft.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: ep.Addr, ContainerPort: p.ContainerPort})
			}
			if ep.Addr6.IsValid() && (p.HostIP.Is6() || !p.HostIP.IsValid()) {
				st.Ports = append(st.Ports, nft.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: ep.Addr6, ContainerPort: p.ContainerPort})
			}
		}
	}
	sortState(&st)
	if m.applied != nil && reflect.DeepEqual(*m.applied, st) {
		// Unchanged (a container without published ports came or went):
		// a table swap costs a few ms of the start path for nothing.
		return nil
	}
	m.applied = nil
	if err := m.plumb.ApplyRules(m.cfg.Table, st); err != nil {
		return err
	}
	m.applied = &st
	return nil
}

// sortState orders a state built from maps, so that two builds of the same
// state compare equal.
func sortState(st *nft.State) {
	sort.Slice(st.Networks, func(i, j int) bool { return st.Networks[i].Bridge < st.Networks[j].Bridge })
	sort.Slice(st.Ports, func(i, j int) bool {
		a, b := st.Ports[i], st.Ports[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.HostPort != b.HostPort {
			return a.HostPort < b.HostPort
		}
		if c := a.HostIP.Compare(b.HostIP); c != 0 {
			return c < 0
		}
		return a.ContainerIP.Less(b.ContainerIP)
	})
}

// hostName is the host end of a container's veth pair on a network:
// derived from both IDs, so that a crashed engine finds it again.
func hostName(containerID, networkID string) string {
	h := sha256.Sum256([]byte(containerID + "/" + networkID))
	return "vb" + hex.EncodeToString(h[:])[:12]
}

func endpointID(containerID, networkID string) string {
	h := sha256.Sum256([]byte("endpoint/" + containerID + "/" + networkID))
	return hex.EncodeToString(h[:])
}

// HostGateway is the address --add-host NAME:host-gateway stands for: the
// default bridge's gateway, as dockerd's.
func (m *Manager) HostGateway() netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, err := m.getLocked(NameBridge); err == nil {
		return n.Gateway
	}
	return netip.Addr{}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
