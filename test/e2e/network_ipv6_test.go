package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestNetworkIPv6: an --ipv6 network with a ULA subnet: containers get an
// IPv6 address and gateway (inspect shows them), reach each other over
// IPv6 and by name (AAAA and PTR from the embedded DNS), a published port
// answers on the gateway's IPv6 address from the host, the rules are in
// the ip6 table; a kill -9 of engined keeps the port working, and after
// rm nothing is left, leases of both families included. All traffic stays
// between the host and the test's bridge.
func TestNetworkIPv6(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	// A subnet of its own: no other test stack nor the host uses it.
	sub := fmt.Sprintf("fdb3:%x:%x::", rand.IntN(0xffff), rand.IntN(0xffff))
	s.dockerOut("network", "create", "--ipv6", "--subnet", sub+"/64", "v6net")
	if got := s.dockerOut("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}/{{.Gateway}} {{end}}", "v6net"); !strings.HasPrefix(got, "true ") || !strings.Contains(got, sub+"/64/"+sub+"1") {
		t.Fatalf("network inspect: %q", got)
	}
	web6 := sub + "10"
	s.dockerOut(append([]string{"run", "-d", "--name", "w6", "--network", "v6net", "--ip6", web6, "--hostname", "webhost", "-p", "80"}, httpdArgs("w6")...)...)
	s.dockerOut("run", "-d", "--name", "c6", "--network", "v6net", "busybox", "sleep", "300")
	got := s.dockerOut("inspect", "-f", `{{with index .NetworkSettings.Networks "v6net"}}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}} {{.DNSNames}}{{end}}`, "w6")
	if want := web6 + " 64 " + sub + "1 " + web6 + " [w6 "; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " webhost]") {
		t.Fatalf("inspect w6: %q, want %q...", got, want)
	}
	if r := s.dockerOut("exec", "c6", "ip", "-6", "route", "show", "default"); !strings.Contains(r, "via "+sub+"1") {
		t.Fatalf("c6's IPv6 default route: %q", r)
	}
	// Container to container over IPv6, by address and by name (AAAA).
	eventually(t, "c6 reaches w6 over IPv6", func() bool { b, ok := s.reach("c6", "["+web6+"]"); return ok && b == "hello from w6" })
	for _, name := range []string{"w6", "webhost"} {
		if out := s.dockerOut("exec", "c6", "nslookup", "-type=AAAA", name); !strings.Contains(out, web6) {
			t.Fatalf("AAAA %s: %q", name, out)
		}
	}
	// PTR of both addresses: NAME.NETWORK.
	w4 := s.dockerOut("inspect", "-f", `{{(index .NetworkSettings.Networks "v6net").IPAddress}}`, "w6")
	for _, a := range []string{w4, web6} {
		if out := s.dockerOut("exec", "c6", "nslookup", a); !strings.Contains(out, "w6.v6net") {
			t.Fatalf("PTR %s: %q", a, out)
		}
	}
	// Published on both families; the IPv6 side answers on the gateway's
	// address from the host, and from another container (hairpin).
	ports := s.dockerOut("port", "w6", "80")
	if !strings.Contains(ports, "0.0.0.0:") || !strings.Contains(ports, "[::]:") {
		t.Fatalf("docker port: %q", ports)
	}
	_, hp, _ := strings.Cut(strings.Fields(ports)[0], ":")
	url := "http://[" + sub + "1]:" + hp + "/"
	eventually(t, "w6 answers on the gateway's IPv6 address", func() bool { b, err := wgetHost(t, url); return err == nil && b == "hello from w6" })
	if b, ok := s.reach("c6", "["+sub+"1]:"+hp); !ok || b != "hello from w6" {
		t.Fatalf("hairpin over IPv6: %q", b)
	}
	if l, err := net.Listen("tcp6", "[::]:"+hp); err == nil {
		l.Close()
		t.Fatalf("[::]:%s is not held", hp)
	}
	if rules, _ := exec.Command("nft", "list", "table", "ip6", s.table).Output(); !strings.Contains(string(rules), "dnat to ["+web6+"]:80") || !strings.Contains(string(rules), "masquerade") {
		t.Fatalf("ip6 table:\n%s", rules)
	}
	// The IPv6 loopback cannot be published (no userland proxy).
	if _, errOut, code := s.docker("run", "--rm", "--network", "v6net", "-p", "[::1]::80", "busybox", "true"); code == 0 || !strings.Contains(errOut, "no userland proxy") {
		t.Fatalf("-p [::1]::80: %d %q", code, errOut)
	}
	// kill -9 of engined: the port keeps answering; the new engined
	// holds it again.
	s.kill9(s.engine)
	if b, err := wgetHost(t, url); err != nil || b != "hello from w6" {
		t.Fatalf("IPv6 port while engined is down: %q %v", b, err)
	}
	s.startEngine()
	if b, err := wgetHost(t, url); err != nil || b != "hello from w6" {
		t.Fatalf("IPv6 port after the restart: %q %v", b, err)
	}
	if l, err := net.Listen("tcp6", "[::]:"+hp); err == nil {
		l.Close()
		t.Fatalf("[::]:%s is not held again after the restart", hp)
	}
	s.dockerOut("rm", "-f", "w6", "c6")
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after rm: %v", leaks)
	}
	s.dockerOut("network", "rm", "v6net")
	if err := exec.Command("nft", "list", "table", "ip6", s.table).Run(); err == nil {
		t.Fatalf("the ip6 table stays without IPv6 networks")
	}
}
