package network

import (
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// With spares, the first attach after Reconcile takes the namespace and
// pair made ahead and another is made, refillDelay later (not beside the
// container's start); Close lets the unused one go.
func TestSpareNamespaceAndPair(t *testing.T) {
	f := newFake()
	m := newSpareManager(t, f)
	closed := func() (n int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, file := range f.nsFiles {
			if _, err := file.Stat(); errors.Is(err, os.ErrClosed) {
				n++
			}
		}
		return n
	}
	if f.spares != 1 || len(f.nsFiles) != 1 || closed() != 0 {
		t.Fatalf("after Reconcile: %d pairs, %d namespaces made, %d closed", f.spares, len(f.nsFiles), closed())
	}
	attached := time.Now()
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	pairs := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.spares
	}
	m.spareMu.Lock()
	making := m.spareBusy
	m.spareMu.Unlock()
	if n := pairs(); time.Since(attached) < refillDelay/2 && (n != 1 || making) {
		t.Fatalf("right after an attach: %d pairs made, one being made %v: the next spare is made only later", n, making)
	}
	for deadline := time.Now().Add(10 * time.Second); pairs() != 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	m.spareWG.Wait()
	f.mu.Lock()
	held := f.netns[m.NetNSPath("c1")]
	f.mu.Unlock()
	// The taken spare's file is closed once its namespace is held at the
	// container's path.
	if !held || f.spares != 2 || closed() != 1 {
		t.Fatalf("after an attach: held %v, %d pairs made, %d namespace files closed", held, f.spares, closed())
	}
	m.Detach("c1")
	m.Close()
	if closed() != 2 {
		t.Fatalf("after Close: %d of %d spare namespaces let go", closed(), len(f.nsFiles))
	}
}

// A burst of attaches makes one spare after it, not one per attach: the
// refills due meanwhile are one, and none is made while one waits.
func TestSpareRefillOncePerBurst(t *testing.T) {
	f := newFake()
	m := newSpareManager(t, f)
	defer m.Close()
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		if err := run(t, m, id, &container.HostConfig{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * refillDelay)
	m.spareWG.Wait()
	m.refillSpare() // one waits: nothing made
	m.spareWG.Wait()
	f.mu.Lock()
	pairs := f.spares
	f.mu.Unlock()
	if pairs != 2 {
		t.Fatalf("%d pairs made for a burst of 4 attaches, want the first spare and one refill", pairs)
	}
}

// newSpareManager is a manager with spares on f, reconciled, its first
// spare made.
func newSpareManager(t *testing.T, f *fakeHost) *Manager {
	t.Helper()
	root := t.TempDir()
	m, err := New(Config{DataRoot: root, ExecRoot: root + "/run", Bridge: "bt0", Table: "t", Plumbing: f, Spares: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(func(string) bool { return false }, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	m.spareWG.Wait()
	return m
}

// A bridge deleted behind engined's back is made again at the next attach.
func TestBridgeMadeAgain(t *testing.T) {
	f := newFake()
	m := newManager(t, f, t.TempDir())
	f.DeleteLink("bt0")
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	if !f.LinkExists("bt0") {
		t.Fatal("the bridge was not made again")
	}
}

// A namespace reserved ahead of the attach (a task made before its start)
// is bound at the container's path with the spare pair in it, and nothing
// else: no address, no veth of the container's, no live record. The
// attach takes it as it is (no second namespace), and an unreserve or a
// removal before any attach lets it go.
func TestReserveAheadOfTheAttach(t *testing.T) {
	f := newFake()
	m := newSpareManager(t, f)
	path := m.NetNSPath("c1")
	held := func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.netns[path] }
	if err := prepare(m, "c1", "/c1", &container.Config{}, &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve("c1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve("c1"); err != nil { // idempotent
		t.Fatal(err)
	}
	info, _ := m.Info("c1")
	if !held() || info.Running || info.Endpoints[0].Addr.IsValid() {
		t.Fatalf("reserved: namespace held %v, running %v, address %v", held(), info.Running, info.Endpoints[0].Addr)
	}
	f.mu.Lock()
	made := len(f.nsFiles)
	f.mu.Unlock()
	if err := m.Attach("c1"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	madeAfter, spareLeft := len(f.nsFiles), false
	for l := range f.links {
		spareLeft = spareLeft || strings.HasPrefix(l, "vbs")
	}
	f.mu.Unlock()
	info, _ = m.Info("c1")
	if madeAfter != made || !info.Running || !info.Endpoints[0].Addr.IsValid() || spareLeft {
		t.Fatalf("attach after the reserve: %d namespaces made (%d before), running %v, address %v, spare pair left %v", madeAfter, made, info.Running, info.Endpoints[0].Addr, spareLeft)
	}
	m.Detach("c1")

	// Reserved, then undone; reserved, then removed.
	for _, undo := range []func(){func() { m.Unreserve("c1") }, func() { m.Forget("c1") }} {
		if err := m.Reserve("c1"); err != nil {
			t.Fatal(err)
		}
		if !held() {
			t.Fatal("not reserved")
		}
		undo()
		if held() {
			t.Fatal("the reserved namespace outlived its undo")
		}
	}
	if err := m.Reserve("c1"); err != nil { // forgotten: nothing to reserve
		t.Fatal(err)
	}
	if held() {
		t.Fatal("a removed container's namespace reserved")
	}
}

// Every namespace the manager makes, a spare or one made at the attach,
// gets the configured sysctls (the engine's defaults, written before a
// container is in it), and the manager reports them for the spec.
func TestNetNSSysctls(t *testing.T) {
	want := map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	for _, spares := range []bool{false, true} {
		f := newFake()
		root := t.TempDir()
		m, err := New(Config{DataRoot: root, ExecRoot: root + "/run", Bridge: "bt0", Table: "t", Plumbing: f, Spares: spares, NetNSSysctls: want})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Reconcile(func(string) bool { return false }, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
		m.spareWG.Wait()
		if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
			t.Fatal(err)
		}
		m.Close()
		f.mu.Lock()
		asked := f.sysctls
		f.mu.Unlock()
		if len(asked) == 0 {
			t.Fatalf("spares %v: no namespace made", spares)
		}
		for _, got := range asked {
			if !maps.Equal(got, want) {
				t.Errorf("spares %v: a namespace made with sysctls %v, want %v", spares, got, want)
			}
		}
		if !maps.Equal(m.NetNSSysctls(), want) {
			t.Errorf("NetNSSysctls() = %v", m.NetNSSysctls())
		}
	}
}
