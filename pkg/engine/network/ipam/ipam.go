// Package ipam hands out IPv4 and IPv6 addresses of a network's pools to
// containers (an IPv6 pool is kept under its own name, NETWORK.6).
// Every lease is written to its file (atomically) before the address is
// returned, so that no address is given twice, even across a crash or a
// restart of engined; leases of containers that are no longer running are
// released by Reconcile at start. The files are not synced: a lease only
// matters while its container runs, and after a power loss none does
// (Reconcile releases them all), so a lease file a power loss left empty
// is read as no leases.
//
// A release is not written at once: the store keeps every network's leases
// in memory and a release changes only them; the file follows FlushDelay
// later (one write for the releases of a burst of exits), at the network's
// next allocation, or at Close, whichever comes first. Rewriting the file
// took 1 ms or more of every container's exit here, and a lease left on
// disk by a crash in between is harmless: Reconcile releases at start the
// leases of containers not running.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Pool is the address space of one network.
type Pool struct {
	Subnet  netip.Prefix // the network's subnet (masked)
	Range   netip.Prefix // --ip-range: where dynamic addresses come from; zero: the subnet
	Gateway netip.Addr   // never leased
}

// Validate checks that the range and gateway lie in the subnet, with
// dockerd's messages.
func (p Pool) Validate() error {
	if !p.Subnet.IsValid() || p.Subnet.Addr().Is4In6() {
		return fmt.Errorf("invalid subnet %s: %w", p.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Subnet.Bits() > p.Subnet.Addr().BitLen()-2 {
		return fmt.Errorf("subnet %s is too small: %w", p.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Range.IsValid() && p.Range.Addr().Is4() != p.Subnet.Addr().Is4() || p.Gateway.IsValid() && p.Gateway.Is4() != p.Subnet.Addr().Is4() {
		return fmt.Errorf("invalid pool request: the ip-range and gateway must be of the subnet's family (%s): %w", p.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Range.IsValid() && (!p.Subnet.Contains(p.Range.Addr()) || p.Range.Bits() < p.Subnet.Bits()) {
		return fmt.Errorf("invalid pool request: IP range %s is not within subnet %s: %w", p.Range, p.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Gateway.IsValid() && !p.Subnet.Contains(p.Gateway) {
		return fmt.Errorf("invalid pool request: gateway %s is not within subnet %s: %w", p.Gateway, p.Subnet, errdefs.ErrInvalidArgument)
	}
	return nil
}

// DefaultGateway is the subnet's first host address, as dockerd picks it.
func (p Pool) DefaultGateway() netip.Addr { return p.Subnet.Masked().Addr().Next() }

// FlushDelay is how long a release waits to be written.
const FlushDelay = 100 * time.Millisecond

// Store keeps the leases of every network, one file per network.
type Store struct {
	dir string
	mu  sync.Mutex
	// nets holds the networks read or written so far, as they are; those
	// in released have releases their files do not show yet, written by
	// flush (set while one is due).
	nets       map[string]*leases
	released   map[string]bool
	flush      *time.Timer
	flushDelay time.Duration
}

// leases is one network's file.
type leases struct {
	// Leases maps an address to the owner (a container ID) holding it.
	Leases map[netip.Addr]string `json:"leases"`
	// Last is the address handed out last: the next search starts after
	// it, so a released address is not reused at once (as dockerd does).
	Last netip.Addr `json:"last,omitzero"`
}

// Open uses dir for the lease files.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	return &Store{dir: dir, nets: map[string]*leases{}, released: map[string]bool{}, flushDelay: FlushDelay}, nil
}

// Close writes the releases not written yet.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flush != nil {
		s.flush.Stop()
	}
	return s.flushLocked()
}

func (s *Store) flushLocked() error {
	s.flush = nil
	var errs []error
	for network := range s.released {
		if err := s.save(network, s.nets[network]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Store) path(network string) string { return filepath.Join(s.dir, network+".json") }

// load returns network's leases, read from its file the first time.
func (s *Store) load(network string) (*leases, error) {
	if l := s.nets[network]; l != nil {
		return l, nil
	}
	l, err := s.read(network)
	if err != nil {
		return nil, err
	}
	s.nets[network] = l
	return l, nil
}

func (s *Store) read(network string) (*leases, error) {
	l := &leases{Leases: map[netip.Addr]string{}}
	data, err := os.ReadFile(s.path(network))
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	if len(data) == 0 {
		return l, nil
	}
	if err := json.Unmarshal(data, l); err != nil {
		return nil, fmt.Errorf("ipam: %s: %w", s.path(network), err)
	}
	if l.Leases == nil {
		l.Leases = map[netip.Addr]string{}
	}
	return l, nil
}

// save writes network's leases as they are in memory, releases included.
func (s *Store) save(network string, l *leases) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	// No sync on the start and stop path (see the package comment).
	if err := atomicfile.Replace(s.path(network), data, 0o600); err != nil {
		return err
	}
	delete(s.released, network)
	return nil
}

// ErrExhausted is returned when a pool has no free address.
var ErrExhausted = errors.New("no available addresses")

// Allocate leases an address of pool in network to owner: want when it is
// valid (it must be in the subnet and free), else the next free address of
// the range. The lease is on disk when Allocate returns.
func (s *Store) Allocate(network string, pool Pool, owner string, want netip.Addr) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.load(network)
	if err != nil {
		return netip.Addr{}, err
	}
	last := l.Last
	subnet := pool.Subnet.Masked()
	reserved := func(a netip.Addr) bool {
		return a == subnet.Addr() || a == broadcast(subnet) || a == pool.Gateway
	}
	var got netip.Addr
	if want.IsValid() {
		if !subnet.Contains(want) {
			return netip.Addr{}, fmt.Errorf("no configured subnet or ip-range contain the IP address %s: %w", want, errdefs.ErrInvalidArgument)
		}
		if o, taken := l.Leases[want]; reserved(want) || taken && o != owner {
			return netip.Addr{}, fmt.Errorf("Address already in use: %w", errdefs.ErrConflict)
		}
		got = want
	} else {
		r := pool.Range
		if !r.IsValid() {
			r = subnet
		}
		r = r.Masked()
		start := r.Addr()
		if l.Last.IsValid() && r.Contains(l.Last) {
			start = l.Last
		}
		// One turn around the range, starting after the last lease.
		a := start
		for {
			a = a.Next()
			if !r.Contains(a) {
				a = r.Addr()
			}
			if _, taken := l.Leases[a]; !taken && !reserved(a) {
				got = a
				break
			}
			if a == start {
				return netip.Addr{}, fmt.Errorf("%w on this network's address pools: %w", ErrExhausted, errdefs.ErrFailedPrecondition)
			}
		}
		l.Last = got
	}
	prevOwner, prevTaken := l.Leases[got]
	l.Leases[got] = owner
	if err := s.save(network, l); err != nil {
		// Not on disk, so not given: memory says what the file says.
		if prevTaken {
			l.Leases[got] = prevOwner
		} else {
			delete(l.Leases, got)
		}
		l.Last = last
		return netip.Addr{}, err
	}
	return got, nil
}

// Release drops every lease owner holds in network, in memory: the file
// follows (see the package comment).
func (s *Store) Release(network, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.load(network)
	if err != nil {
		return err
	}
	changed := false
	for a, o := range l.Leases {
		if o == owner {
			delete(l.Leases, a)
			changed = true
		}
	}
	if changed {
		s.released[network] = true
		if s.flush == nil {
			s.flush = time.AfterFunc(s.flushDelay, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				_ = s.flushLocked() // else written with the next allocation or at Close
			})
		}
	}
	return nil
}

// Leases returns network's leases: address → owner.
func (s *Store) Leases(network string) (map[netip.Addr]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.load(network)
	if err != nil {
		return nil, err
	}
	return maps.Clone(l.Leases), nil
}

// Drop removes a network's file (the network is gone).
func (s *Store) Drop(network string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nets, network)
	delete(s.released, network)
	if err := os.Remove(s.path(network)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipam: %w", err)
	}
	return nil
}

// Reconcile releases, in every network, the leases whose owner keep says
// no to (containers that stopped or went while engined was down), and drops
// the files of networks that exist no more. It returns how many leases it
// released.
func (s *Store) Reconcile(networkExists func(string) bool, keep func(network, owner string) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("ipam: %w", err)
	}
	n := 0
	for _, e := range ents {
		name, ok := cutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if !networkExists(name) {
			delete(s.nets, name)
			delete(s.released, name)
			os.Remove(filepath.Join(s.dir, e.Name()))
			continue
		}
		l, err := s.load(name)
		if err != nil {
			return n, err
		}
		changed := false
		for a, o := range l.Leases {
			if !keep(name, o) {
				delete(l.Leases, a)
				changed = true
				n++
			}
		}
		if changed {
			if err := s.save(name, l); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix && s[0] != '.' {
		return s[:len(s)-len(suffix)], true
	}
	return "", false
}

// broadcast is the last address of an IPv4 subnet; IPv6 has none (the
// zero address stands for it).
func broadcast(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Broadcast is the subnet's broadcast address.
func Broadcast(p netip.Prefix) netip.Addr { return broadcast(p) }

// V6 names the lease file of a network's IPv6 pool.
func V6(network string) string { return network + ".6" }
