package network

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// With spares, the first attach after Reconcile takes the namespace and
// pair made ahead and another is made; Close leaves no spare namespace.
func TestSpareNamespaceAndPair(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m, err := New(Config{DataRoot: root, ExecRoot: root + "/run", Bridge: "bt0", Table: "t", Plumbing: f, Spares: true})
	if err != nil {
		t.Fatal(err)
	}
	// A spare a crashed engined left is removed by Reconcile.
	f.CreateNetNS(m.NetNSDir() + "/.spare-old")
	if err := m.Reconcile(func(string) bool { return false }, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	m.spareWG.Wait()
	spares := func() (ns []string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for p := range f.netns {
			if strings.Contains(p, "/.spare-") {
				ns = append(ns, p)
			}
		}
		return ns
	}
	if got := spares(); f.spares != 1 || len(got) != 1 || strings.HasSuffix(got[0], "-old") {
		t.Fatalf("after Reconcile: %d pairs made, spare namespaces %v", f.spares, got)
	}
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	m.spareWG.Wait()
	f.mu.Lock()
	held, pairs := f.netns[m.NetNSPath("c1")], 0
	for l := range f.links {
		if strings.HasPrefix(l, "vbs") {
			pairs++
		}
	}
	f.mu.Unlock()
	if !held || f.spares != 2 || pairs != 1 || len(spares()) != 1 {
		t.Fatalf("after an attach: netns held %v, %d pairs made, %d unused, spares %v", held, f.spares, pairs, spares())
	}
	m.Detach("c1")
	m.Close()
	if got := spares(); len(got) != 0 {
		t.Fatalf("after Close: %v", got)
	}
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
