package containers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// The etc files are not synced at create; a start finds one that a power
// loss left empty (or that is gone) and writes them all again, and leaves
// whole ones alone.
func TestRepairEtcFiles(t *testing.T) {
	dir := t.TempDir()
	c := newContainer(dir)
	c.HostnamePath = filepath.Join(dir, "hostname")
	c.HostsPath = filepath.Join(dir, "hosts")
	c.ResolvConfPath = filepath.Join(dir, "resolv.conf")
	c.Config = &container.Config{Hostname: "box1", Domainname: "example.org"}
	c.HostConfig = &container.HostConfig{NetworkMode: "none", ExtraHosts: []string{"db:10.1.2.3"}}
	d := &Daemon{}
	if err := d.makeEtcFiles(c, c.Config.Hostname, c.Config.Domainname, c.HostConfig); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, p := range []string{c.HostnamePath, c.HostsPath, c.ResolvConfPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = string(b)
	}
	if !strings.Contains(want[c.HostsPath], "10.1.2.3\tdb") && !strings.Contains(want[c.HostsPath], "10.1.2.3 db") {
		t.Fatalf("hosts lacks --add-host entry:\n%s", want[c.HostsPath])
	}
	for _, damage := range []func(string) error{
		func(p string) error { return os.Truncate(p, 0) },
		os.Remove,
	} {
		for _, p := range []string{c.HostnamePath, c.HostsPath, c.ResolvConfPath} {
			if err := damage(p); err != nil {
				t.Fatal(err)
			}
			if err := d.repairEtcFiles(c); err != nil {
				t.Fatal(err)
			}
			for q, w := range want {
				if b, err := os.ReadFile(q); err != nil || string(b) != w {
					t.Fatalf("after damaging %s: %s = %q, %v; want %q", filepath.Base(p), filepath.Base(q), b, err, w)
				}
			}
		}
	}
	// Whole files are not rewritten (a start costs a stat each).
	st, _ := os.Stat(c.HostsPath)
	if err := os.WriteFile(c.HostsPath, []byte("edited by the user\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.repairEtcFiles(c); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(c.HostsPath); string(b) != "edited by the user\n" {
		t.Fatalf("a whole hosts file was rewritten (was %d bytes): %q", st.Size(), b)
	}
	// A container sharing another's network namespace has none of its own.
	c.HostConfig = &container.HostConfig{NetworkMode: "container:abc"}
	os.Remove(c.HostsPath)
	if err := d.repairEtcFiles(c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.HostsPath); !os.IsNotExist(err) {
		t.Fatalf("hosts written for a container: network mode: %v", err)
	}
}
