package network

import (
	"os"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// The record's live part (addresses, host ports) is a file of the exec
// root, gone at stop; the synced configuration file never holds it; a
// restarted manager reads both; a live file cut short is "not running".
func TestRecordLivePart(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	m := newManager(t, f, root)
	p80 := network.MustParsePort("80/tcp")
	hc := &container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}}
	if err := run(t, m, "c1", hc, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(m.dir("containers", "c1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, live := range []string{"running", "mappings", `"addr"`, "ifName"} {
		if strings.Contains(string(cfg), live) {
			t.Fatalf("the configuration file holds %s: %s", live, cfg)
		}
	}
	if _, err := os.Stat(m.livePath("c1")); err != nil {
		t.Fatalf("no live file while running: %v", err)
	}
	addr := m.containers["c1"].Endpoints[0].Addr

	m2 := newManager(t, f, root)
	s := m2.containers["c1"]
	if !s.Running || len(s.Mappings) != 1 || s.Mappings[0].HostPort != 8080 || s.Endpoints[0].Addr != addr || s.Endpoints[0].IfName != "eth0" {
		t.Fatalf("after a restart: %+v %+v", s, s.Endpoints[0])
	}
	if len(s.Ports) != 1 {
		t.Fatalf("port specs lost: %+v", s.Ports)
	}

	m2.Detach("c1")
	if _, err := os.Stat(m2.livePath("c1")); !os.IsNotExist(err) {
		t.Fatalf("live file after stop: %v", err)
	}
	if err := m2.Attach("c1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(m2.livePath("c1"), []byte(`{"runn`), 0o600)
	m3 := newManager(t, f, root)
	if s := m3.containers["c1"]; s.Running || s.Endpoints[0].Addr.IsValid() || len(s.Ports) != 1 {
		t.Fatalf("a torn live file read as %+v", s)
	}
	m3.Forget("c1")
	waitGone(t, m3.dir("containers", "c1.json"), m3.livePath("c1"))
}

// A container without published ports leaves the table as it is: no swap.
func TestUnchangedRulesNotApplied(t *testing.T) {
	f := newFake()
	m := newManager(t, f, t.TempDir())
	if err := m.Reconcile(func(string) bool { return true }, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	applies := f.applies
	if err := run(t, m, "c1", &container.HostConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	m.Detach("c1")
	if f.applies != applies {
		t.Fatalf("%d table swaps for a container without ports", f.applies-applies)
	}
	p80 := network.MustParsePort("80/tcp")
	if err := run(t, m, "c2", &container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if f.applies != applies+1 || len(f.state.Ports) != 1 {
		t.Fatalf("publishing: %d swaps, ports %+v", f.applies-applies, f.state.Ports)
	}
	m.Detach("c2")
	if f.applies != applies+2 || len(f.state.Ports) != 0 {
		t.Fatalf("unpublishing: %d swaps, ports %+v", f.applies-applies, f.state.Ports)
	}
}
