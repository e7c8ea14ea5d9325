package ipam

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

func pool(subnet, rng, gw string) Pool {
	p := Pool{Subnet: netip.MustParsePrefix(subnet)}
	if rng != "" {
		p.Range = netip.MustParsePrefix(rng)
	}
	if gw != "" {
		p.Gateway = netip.MustParseAddr(gw)
	} else {
		p.Gateway = p.DefaultGateway()
	}
	return p
}

func TestAllocateSkipsReservedAndTaken(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // writes the release before the directory goes
	p := pool("10.7.0.0/29", "", "")
	got := map[netip.Addr]bool{}
	// /29: .0 network, .1 gateway, .7 broadcast: .2 to .6 are free.
	for i := 0; i < 5; i++ {
		a, err := s.Allocate("n1", p, "c"+string(rune('a'+i)), netip.Addr{})
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if got[a] || a == netip.MustParseAddr("10.7.0.1") || a == netip.MustParseAddr("10.7.0.0") || a == netip.MustParseAddr("10.7.0.7") {
			t.Fatalf("allocation %d gave %s (have %v)", i, a, got)
		}
		got[a] = true
	}
	_, err = s.Allocate("n1", p, "cz", netip.Addr{})
	if !errors.Is(err, ErrExhausted) || !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("sixth allocation in a /29: %v, want exhaustion", err)
	}
	// A release frees the address for the next one.
	if err := s.Release("n1", "cc"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Allocate("n1", p, "cz", netip.Addr{})
	if err != nil || a != netip.MustParseAddr("10.7.0.4") {
		t.Fatalf("after release: %s %v, want 10.7.0.4", a, err)
	}
}

func TestAllocateRequestedAddress(t *testing.T) {
	s, _ := Open(t.TempDir())
	p := pool("10.7.0.0/24", "10.7.0.128/25", "10.7.0.254")
	a, err := s.Allocate("n", p, "c1", netip.MustParseAddr("10.7.0.9"))
	if err != nil || a != netip.MustParseAddr("10.7.0.9") {
		t.Fatalf("requested in subnet, outside range: %s %v", a, err)
	}
	if _, err := s.Allocate("n", p, "c2", netip.MustParseAddr("10.7.0.9")); !errdefs.IsConflict(err) {
		t.Fatalf("requested taken: %v", err)
	}
	if _, err := s.Allocate("n", p, "c2", netip.MustParseAddr("10.7.0.254")); !errdefs.IsConflict(err) {
		t.Fatalf("requested gateway: %v", err)
	}
	_, err = s.Allocate("n", p, "c2", netip.MustParseAddr("10.8.0.9"))
	if !errdefs.IsInvalidArgument(err) || err.Error() != "no configured subnet or ip-range contain the IP address 10.8.0.9: invalid argument" {
		t.Fatalf("outside the subnet: %v", err)
	}
	// Dynamic ones come from the range only.
	d, err := s.Allocate("n", p, "c3", netip.Addr{})
	if err != nil || !p.Range.Contains(d) {
		t.Fatalf("dynamic: %s %v, want in %s", d, err, p.Range)
	}
}

func TestLeasesSurviveReopenAndReconcile(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	p := pool("10.7.0.0/24", "", "")
	a1, _ := s.Allocate("n", p, "running", netip.Addr{})
	a2, _ := s.Allocate("n", p, "gone", netip.Addr{})
	_, _ = s.Allocate("old", p, "x", netip.Addr{})

	// A new store on the same dir (an engined restart, or a crash after the
	// allocation returned) sees the leases: no address is given twice.
	s2, _ := Open(dir)
	a3, err := s2.Allocate("n", p, "new", netip.Addr{})
	if err != nil || a3 == a1 || a3 == a2 {
		t.Fatalf("after reopen: %s %v (held %s %s)", a3, err, a1, a2)
	}
	n, err := s2.Reconcile(func(net string) bool { return net == "n" }, func(_, owner string) bool { return owner != "gone" })
	if err != nil || n != 1 {
		t.Fatalf("reconcile released %d, %v; want 1", n, err)
	}
	l, _ := s2.Leases("n")
	if l[a2] != "" || l[a1] != "running" || l[a3] != "new" {
		t.Fatalf("leases after reconcile: %v", l)
	}
	if l, _ := s2.Leases("old"); len(l) != 0 {
		t.Fatalf("a removed network's leases stayed: %v", l)
	}
}

func TestPoolValidate(t *testing.T) {
	for _, c := range []struct {
		p  Pool
		ok bool
	}{
		{pool("10.1.0.0/16", "10.1.2.0/24", "10.1.0.1"), true},
		{pool("10.1.0.0/16", "10.2.2.0/24", "10.1.0.1"), false},
		{pool("10.1.0.0/16", "", "10.2.0.1"), false},
		{pool("10.1.0.0/31", "", ""), false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.p, err)
		}
	}
	if b := Broadcast(netip.MustParsePrefix("172.18.0.0/16")); b != netip.MustParseAddr("172.18.255.255") {
		t.Errorf("broadcast %s", b)
	}
}

// TestEmptyLeaseFile: a lease file a power loss left empty (they are not
// synced) reads as no leases.
func TestEmptyLeaseFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := Pool{Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.1")}
	a, err := s.Allocate("n", p, "c1", netip.Addr{})
	if err != nil || a.String() != "10.1.0.2" {
		t.Fatalf("allocate on an empty file: %s %v", a, err)
	}
}

// TestReleaseWrittenLater: a release changes memory only (no file write on
// a container's exit); the file follows at the next allocation, at Close or
// after FlushDelay, and a lease a crash left on disk is released by
// Reconcile.
func TestReleaseWrittenLater(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	s.flushDelay = time.Hour
	p := pool("10.7.0.0/24", "", "")
	a1, _ := s.Allocate("n", p, "c1", netip.Addr{})
	a2, _ := s.Allocate("n", p, "c2", netip.Addr{})
	file := filepath.Join(dir, "n.json")
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release("n", "c1"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leases("n"); l[a1] != "" || l[a2] != "c2" {
		t.Fatalf("leases after the release: %v", l)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatalf("the release rewrote the file: %s", after)
	}
	// A crash now: the next engined finds c1's lease and releases it.
	onDisk := func() map[netip.Addr]string {
		t.Helper()
		s2, _ := Open(dir)
		l, err := s2.Leases("n")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := onDisk(); l[a1] != "c1" {
		t.Fatalf("reopened before an allocation: %v", l)
	}
	s2, _ := Open(dir)
	if n, err := s2.Reconcile(func(string) bool { return true }, func(_, owner string) bool { return owner == "c2" }); err != nil || n != 1 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	if err := os.WriteFile(file, before, 0o600); err != nil { // as before the reconcile
		t.Fatal(err)
	}
	// Without the crash, the next allocation writes the release...
	a3, err := s.Allocate("n", p, "c3", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if l := onDisk(); len(l) != 2 || l[a1] != "" || l[a2] != "c2" || l[a3] != "c3" {
		t.Fatalf("on disk after the next allocation: %v", l)
	}
	// ... or Close...
	if err := s.Release("n", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l := onDisk(); len(l) != 1 || l[a3] != "c3" {
		t.Fatalf("on disk after Close: %v", l)
	}
	// ... or the delay.
	s.flushDelay = time.Millisecond
	if err := s.Release("n", "c3"); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(onDisk()) != 0; i++ {
		if i == 500 {
			t.Fatalf("on disk after the delay: %v", onDisk())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailedWriteGivesNoAddress: an allocation whose file could not be
// written is not held in memory either.
func TestFailedWriteGivesNoAddress(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	p := pool("10.7.0.0/24", "", "")
	a1, _ := s.Allocate("n", p, "c1", netip.Addr{})
	// The file's place taken by a directory: the rename fails.
	file := filepath.Join(dir, "n.json")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(file, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Allocate("n", p, "c2", netip.Addr{}); err == nil {
		t.Fatalf("allocated %s without its file", a)
	}
	if l, _ := s.Leases("n"); len(l) != 1 || l[a1] != "c1" {
		t.Fatalf("leases after the failed allocation: %v", l)
	}
	if err := os.RemoveAll(file); err != nil {
		t.Fatal(err)
	}
	a2, err := s.Allocate("n", p, "c2", netip.Addr{})
	if err != nil || a2 != a1.Next() {
		t.Fatalf("allocation after the failure: %s %v, want %s", a2, err, a1.Next())
	}
}
