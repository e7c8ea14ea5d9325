package network

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/network/bridge"
	"github.com/berthd/berth/pkg/engine/network/dns"
	"github.com/berthd/berth/pkg/engine/network/nft"
	"github.com/berthd/berth/pkg/errdefs"
)

// fakeHost records what the manager asks of the host. mu guards what the
// spare maker (a goroutine) also touches.
type fakeHost struct {
	mu      sync.Mutex
	links   map[string]bool
	netns   map[string]bool
	state   nft.State
	applies int
	busy    map[uint16]bool         // host ports some other process listens on
	spares  int                     // pairs made ahead
	nsFiles []*os.File              // the namespaces made ahead
	addrs   map[string]netip.Prefix // bridges there before the manager, with their address
	removes int                     // links and namespaces deleted
	sysctls []map[string]string     // asked of each namespace made
	// onRemoveNetNS, when set, runs at RemoveNetNS's start, unlocked.
	onRemoveNetNS func()
}

func newFake() *fakeHost {
	return &fakeHost{links: map[string]bool{}, netns: map[string]bool{}, busy: map[uint16]bool{}}
}

func (f *fakeHost) EnsureBridge(b bridge.Bridge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[b.Name] = true
	return nil
}
func (f *fakeHost) DeleteLink(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removes++
	delete(f.links, name)
	return nil
}
func (f *fakeHost) DeleteLinkLater(name string) error { return f.DeleteLink(name) }
func (f *fakeHost) LinkExists(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.links[name]
}
func (f *fakeHost) AddEndpoint(e bridge.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.netns[e.NetNS] {
		return errors.New("no netns " + e.NetNS)
	}
	if !f.links[e.Bridge] {
		return fmt.Errorf("bridge %s: %w", e.Bridge, bridge.ErrNoBridge)
	}
	if e.Spare != "" {
		if !f.links[e.Spare] {
			return errors.New("no spare pair " + e.Spare)
		}
		delete(f.links, e.Spare)
	}
	f.links[e.HostName] = true
	return nil
}
func (f *fakeHost) RemoveEndpoint(string, string) error { return nil }
func (f *fakeHost) CreateNetNS(p string, sysctls map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sysctls = append(f.sysctls, sysctls)
	f.netns[p] = true
	return nil
}
func (f *fakeHost) RemoveNetNS(p string) error {
	f.mu.Lock()
	hook := f.onRemoveNetNS
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removes++
	delete(f.netns, p)
	return nil
}
func (f *fakeHost) NewNetNS(sysctls map[string]string) (*os.File, error) {
	file, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sysctls = append(f.sysctls, sysctls)
	f.nsFiles = append(f.nsFiles, file)
	return file, nil
}
func (f *fakeHost) HoldNetNS(_ *os.File, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.netns[p] {
		return errors.New("already held")
	}
	f.netns[p] = true
	return nil
}
func (f *fakeHost) MakeSpare(_ *os.File, host, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[host] = true
	f.spares++
	return nil
}
func (f *fakeHost) ListNetNS(string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p := range f.netns {
		out = append(out, p[strings.LastIndex(p, "/")+1:])
	}
	return out, nil
}
func (f *fakeHost) ApplyRules(_ string, s nft.State) error { f.state = s; f.applies++; return nil }
func (f *fakeHost) Routes() ([]netip.Prefix, error) {
	return []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}, nil
}
func (f *fakeHost) Routes6() ([]netip.Prefix, error) {
	return []netip.Prefix{netip.MustParsePrefix("fd00:aaaa::/64")}, nil
}
func (f *fakeHost) BridgeAddr(name string) (netip.Prefix, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.addrs[name]
	return a, ok
}
func (f *fakeHost) EnableForwarding() error { return nil }
func (f *fakeHost) StartDNS(string, dns.Names, []string) (io.Closer, error) {
	return io.NopCloser(nil), nil
}
func (f *fakeHost) HoldPort(_ string, _ netip.Addr, p uint16) (io.Closer, error) {
	if f.busy[p] {
		return nil, errors.New("address already in use")
	}
	return io.NopCloser(nil), nil
}

func newManager(t *testing.T, f *fakeHost, root string) *Manager {
	t.Helper()
	m, err := New(Config{DataRoot: root, ExecRoot: root + "/run", Bridge: "bt0", Table: "t", Plumbing: f})
	if err != nil {
		t.Fatal(err)
	}
	// Before the temporary root goes: a release's lease file is written
	// 100 ms later unless Close writes it.
	t.Cleanup(m.Close)
	return m
}

func TestDefaultBridgeAvoidsHostRoutes(t *testing.T) {
	m := newManager(t, newFake(), t.TempDir())
	n, err := m.Get(NameBridge)
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet.String() != "172.18.0.0/16" || n.Gateway.String() != "172.18.0.1" || n.Bridge != "bt0" {
		t.Fatalf("default bridge: %+v (172.17.0.0/16 is a host route)", n)
	}
	names := []string{}
	for _, n := range m.List() {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "bridge,host,none" {
		t.Fatalf("predefined: %v", names)
	}
}

// A bridge already there with an address (its data root gone) gives the
// default network its subnet and gateway, rather than another pool's
// address added to it.
func TestDefaultBridgeTakesTheBridgesAddress(t *testing.T) {
	f := newFake()
	f.addrs = map[string]netip.Prefix{"bt0": netip.MustParsePrefix("10.88.0.5/24")}
	m := newManager(t, f, t.TempDir())
	n, err := m.Get(NameBridge)
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet.String() != "10.88.0.0/24" || n.Gateway.String() != "10.88.0.5" {
		t.Fatalf("default bridge: %s via %s, want the bridge's 10.88.0.0/24 via 10.88.0.5", n.Subnet, n.Gateway)
	}
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Info("c1"); len(info.Endpoints) != 1 || !n.Subnet.Contains(info.Endpoints[0].Addr) || info.Endpoints[0].Addr == n.Gateway {
		t.Fatalf("c1's endpoints: %+v", info.Endpoints)
	}
}

// TestForgetAfterTheStop: the removal of a stopped container drops its
// record and asks nothing of the host, whose veth and namespace went at
// the stop.
func TestForgetAfterTheStop(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m := newManager(t, f, root)
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	m.Detach("c1")
	f.mu.Lock()
	removes := f.removes
	f.mu.Unlock()
	if removes != 2 || f.netns[m.NetNSPath("c1")] {
		t.Fatalf("the stop removed %d links and namespaces, want the veth and the namespace", removes)
	}
	m.Forget("c1")
	f.mu.Lock()
	removes = f.removes
	f.mu.Unlock()
	if removes != 2 {
		t.Fatalf("the removal asked the host for %d more removals", removes-2)
	}
	if _, ok := m.Info("c1"); ok {
		t.Fatal("the record outlived the removal")
	}
	waitGone(t, m.dir("containers", "c1.json"))
}

// waitGone fails unless every path is gone within a few seconds (a
// removed container's record is unlinked after recordRemoveDelay).
func waitGone(t *testing.T, paths ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range paths {
		for {
			_, err := os.Stat(p)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the removal: %v", p, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func run(t *testing.T, m *Manager, id string, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	t.Helper()
	if err := prepare(m, id, "/"+id, &container.Config{}, hc, nc); err != nil {
		return err
	}
	return m.Attach(id)
}

// prepare is Prepare and the wait for its record.
func prepare(m *Manager, id, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	managed, saved, err := m.Prepare(id, name, cfg, hc, nc)
	if err != nil || !managed {
		return err
	}
	return saved()
}

func TestPublishedPortsAndRelease(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m := newManager(t, f, root)
	p80 := network.MustParsePort("80/tcp")
	hc := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}}}}
	if err := run(t, m, "c1", hc, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.state.Ports) != 1 || f.state.Ports[0].HostPort != 8080 || !f.state.Ports[0].ContainerIP.IsValid() {
		t.Fatalf("rules: %+v", f.state.Ports)
	}
	// The same host port again: dockerd's message, and nothing left.
	err := run(t, m, "c2", hc, nil)
	if err == nil || err.Error() != "Bind for 127.0.0.1:8080 failed: port is already allocated" || !errdefs.IsConflict(err) {
		t.Fatalf("second bind: %v", err)
	}
	if f.netns[m.NetNSPath("c2")] || f.links[hostName("c2", mustGet(t, m, NameBridge).ID)] {
		t.Fatalf("a failed attach left its namespace or veth")
	}
	if l, _ := m.ipam.Leases(mustGet(t, m, NameBridge).ID); len(l) != 1 {
		t.Fatalf("leases after a failed attach: %v", l)
	}
	// A port some other process holds.
	f.busy[9090] = true
	hc2 := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "9090"}}}}
	if err := run(t, m, "c3", hc2, nil); err == nil || !strings.Contains(err.Error(), "0.0.0.0:9090") {
		t.Fatalf("busy port: %v", err)
	}
	// A range takes the first free port.
	hc3 := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "9090-9092"}}}}
	if err := run(t, m, "c4", hc3, nil); err != nil {
		t.Fatal(err)
	}
	info, _ := m.Info("c4")
	if len(info.Mappings) != 1 || info.Mappings[0].HostPort != 9091 {
		t.Fatalf("range: %+v", info.Mappings)
	}
	m.Forget("c1")
	m.Forget("c4")
	if len(f.state.Ports) != 0 {
		t.Fatalf("rules after forget: %+v", f.state.Ports)
	}
}

func mustGet(t *testing.T, m *Manager, ref string) Network {
	n, err := m.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserNetworksAndErrors(t *testing.T) {
	f := newFake()
	m := newManager(t, f, t.TempDir())
	n, err := m.Create(CreateOptions{Name: "app", Subnet: netip.MustParsePrefix("10.9.0.0/24"), IPRange: netip.MustParsePrefix("10.9.0.128/25"), Options: map[string]string{OptMTU: "1400"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Gateway.String() != "10.9.0.1" || n.MTU != 1400 || !f.links[n.Bridge] {
		t.Fatalf("network: %+v", n)
	}
	if _, err := m.Create(CreateOptions{Name: "other", Subnet: netip.MustParsePrefix("10.9.0.0/16")}); err == nil || err.Error() != "invalid pool request: Pool overlaps with other one on this address space" {
		t.Fatalf("overlap: %v", err)
	}
	if _, err := m.Create(CreateOptions{Name: "app"}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := m.Create(CreateOptions{Name: "x", Options: map[string]string{"com.docker.network.bridge.enable_icc": "false"}}); !errdefs.IsNotImplemented(err) {
		t.Fatalf("unknown option: %v", err)
	}
	hc := &container.HostConfig{NetworkMode: "app"}
	bad := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"app": {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.8.0.5")}}}}
	if err := run(t, m, "c0", hc, bad); err == nil || !strings.Contains(err.Error(), "no configured subnet contains IP address 10.8.0.5") {
		t.Fatalf("--ip outside: %v", err)
	}
	good := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"app": {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.9.0.5")}}}}
	if err := run(t, m, "c1", hc, good); err != nil {
		t.Fatal(err)
	}
	if err := run(t, m, "c2", hc, nil); err != nil {
		t.Fatal(err)
	}
	i1, _ := m.Info("c1")
	i2, _ := m.Info("c2")
	if i1.Endpoints[0].Addr.String() != "10.9.0.5" || !n.IPRange.Contains(i2.Endpoints[0].Addr) {
		t.Fatalf("addresses %s %s", i1.Endpoints[0].Addr, i2.Endpoints[0].Addr)
	}
	if err := m.Remove("app"); err == nil || !strings.Contains(err.Error(), "has active endpoints") {
		t.Fatalf("remove in use: %v", err)
	}
	if err := m.Remove("bridge"); err == nil || err.Error() != "bridge is a pre-defined network and cannot be removed" {
		t.Fatalf("remove bridge: %v", err)
	}
	if err := prepare(m, "c9", "/c9", &container.Config{}, &container.HostConfig{NetworkMode: "nope"}, nil); err == nil || err.Error() != "network nope not found" {
		t.Fatalf("unknown network: %v", err)
	}
	m.Forget("c1")
	m.Forget("c2")
	if err := m.Remove("app"); err != nil {
		t.Fatal(err)
	}
	if f.links[n.Bridge] {
		t.Fatal("bridge left after network rm")
	}
}

// TestReconcileAfterCrash: a new manager on the same state (engined
// restarted after a kill -9) releases what containers that stopped or went
// meanwhile held, and keeps what running ones hold.
func TestReconcileAfterCrash(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m := newManager(t, f, root)
	for _, id := range []string{"running", "stopped", "removed"} {
		p := network.MustParsePort("80/tcp")
		if err := run(t, m, id, &container.HostConfig{PortBindings: network.PortMap{p: {{}}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A namespace of a create cut short, with no record at all.
	f.netns[m.NetNSPath("ghost")] = true

	m2 := newManager(t, f, root)
	exists := func(id string) bool { return id != "removed" }
	running := func(id string) bool { return id == "running" }
	if err := m2.Reconcile(exists, running); err != nil {
		t.Fatal(err)
	}
	br := mustGet(t, m2, NameBridge).ID
	leases, _ := m2.ipam.Leases(br)
	var owners []string
	for _, o := range leases {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	if strings.Join(owners, ",") != "running" {
		t.Fatalf("leases after reconcile: %v", owners)
	}
	ns, _ := f.ListNetNS("")
	if strings.Join(ns, ",") != "running" {
		t.Fatalf("namespaces after reconcile: %v", ns)
	}
	if len(f.state.Ports) != 1 || f.links[hostName("stopped", br)] || f.links[hostName("removed", br)] || !f.links[hostName("running", br)] {
		t.Fatalf("rules %+v links %v", f.state.Ports, f.links)
	}
	if _, ok := m2.Info("removed"); ok {
		t.Fatal("the removed container's record stayed")
	}
}

func TestParsePorts(t *testing.T) {
	pm := network.PortMap{
		network.MustParsePort("80/tcp"):  {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: ""}},
		network.MustParsePort("53/udp"):  {{HostPort: "5353"}},
		network.MustParsePort("9/sctp"):  {{HostPort: "9000-9010"}},
		network.MustParsePort("443/tcp"): nil,
	}
	exposed := network.PortSet{network.MustParsePort("8080/tcp"): {}, network.MustParsePort("80/tcp"): {}}
	specs, err := ParsePorts(pm, exposed, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, strings.TrimSpace(s.HostIP.String()+" "+s.Proto+" "+itoa(s.ContainerPort)+" "+itoa(s.HostStart)+"-"+itoa(s.HostEnd)))
	}
	want := "invalid IP sctp 9 9000-9010|invalid IP udp 53 5353-5353|127.0.0.1 tcp 80 0-0|invalid IP tcp 443 0-0|invalid IP tcp 8080 0-0"
	if strings.Join(got, "|") != want {
		t.Fatalf("specs:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	for _, bad := range []string{"x", "90-80", "70000"} {
		if _, err := ParsePorts(network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: bad}}}, nil, false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("host port %q: %v", bad, err)
		}
	}
	if _, err := ParsePorts(network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("::1")}}}, nil, false); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "no userland proxy") {
		t.Errorf("IPv6 loopback host address: %v", err)
	}
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

// A container removed at its exit (--rm) gives its address and published
// ports back before DetachGone returns; its veth and namespace go in the
// background, and an attach of the same container (a removal that failed
// after) waits for them.
func TestDetachGone(t *testing.T) {
	f := newFake()
	m := newManager(t, f, t.TempDir())
	p80 := network.MustParsePort("80/tcp")
	hc := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}}
	if err := run(t, m, "c1", hc, nil); err != nil {
		t.Fatal(err)
	}
	br := mustGet(t, m, NameBridge).ID
	entered, release := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.onRemoveNetNS = func() { close(entered); <-release }
	f.mu.Unlock()
	m.DetachGone("c1")
	<-entered // the namespace's removal is under way, not done
	info, _ := m.Info("c1")
	if l, _ := m.ipam.Leases(br); len(l) != 0 || info.Running || len(f.state.Ports) != 0 {
		t.Fatalf("after DetachGone: leases %v, running %v, rules %+v", l, info.Running, f.state.Ports)
	}
	// The port is free for another container at once.
	if err := run(t, m, "c2", hc, nil); err != nil {
		t.Fatal(err)
	}
	attached := make(chan error, 1)
	go func() { attached <- m.Attach("c1") }()
	select {
	case err := <-attached:
		t.Fatalf("attach (%v) before the namespace's removal ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.mu.Lock()
	f.onRemoveNetNS = nil
	f.mu.Unlock()
	close(release)
	err := <-attached
	if err == nil || !strings.Contains(err.Error(), "8080") {
		t.Fatalf("second attach of c1 with c2 holding its port: %v", err)
	}
	m.Forget("c2")
	if err := m.Attach("c1"); err != nil {
		t.Fatal(err)
	}
	if !f.netns[m.NetNSPath("c1")] || !f.links[hostName("c1", br)] {
		t.Fatal("the attach after DetachGone made no namespace or veth")
	}
	m.DetachGone("c1")
	m.Close()
	if f.netns[m.NetNSPath("c1")] || f.links[hostName("c1", br)] {
		t.Fatal("Close left the background deletion undone")
	}
}
