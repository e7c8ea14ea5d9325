package nft

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

func TestBuild(t *testing.T) {
	s := State{
		Networks: []Network{
			{Bridge: "berth0", Subnet: netip.MustParsePrefix("172.17.0.0/16"), Gateway: netip.MustParseAddr("172.17.0.1")},
			{Bridge: "br-aaa", Subnet: netip.MustParsePrefix("10.5.0.0/24"), Gateway: netip.MustParseAddr("10.5.0.1")},
			{Bridge: "br-int", Subnet: netip.MustParsePrefix("10.6.0.0/24"), Gateway: netip.MustParseAddr("10.6.0.1"), Internal: true},
		},
		Ports: []Port{
			{Proto: "udp", HostPort: 5353, ContainerIP: netip.MustParseAddr("10.5.0.2"), ContainerPort: 53},
			{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerIP: netip.MustParseAddr("172.17.0.2"), ContainerPort: 80},
		},
	}
	want := `prerouting: fib daddr type local jump ports
output: fib daddr type local jump ports
ports: udp dport 5353 dnat to 10.5.0.2:53
ports: ip daddr 127.0.0.1 tcp dport 8080 dnat to 172.17.0.2:80
postrouting: ip saddr 172.17.0.0/16 oifname != "berth0" masquerade
postrouting: oifname "berth0" ct status dnat ip saddr 127.0.0.0/8 masquerade
postrouting: oifname "berth0" ct status dnat ip saddr 172.17.0.0/16 masquerade
postrouting: ip saddr 10.5.0.0/24 oifname != "br-aaa" masquerade
postrouting: oifname "br-aaa" ct status dnat ip saddr 127.0.0.0/8 masquerade
postrouting: oifname "br-aaa" ct status dnat ip saddr 10.5.0.0/24 masquerade
postrouting: oifname "br-int" ct status dnat ip saddr 127.0.0.0/8 masquerade
postrouting: oifname "br-int" ct status dnat ip saddr 10.6.0.0/24 masquerade
forward: iifname "berth0" oifname "br-aaa" drop
forward: iifname "br-aaa" oifname "berth0" drop
forward: iifname "br-int" oifname != "br-int" drop
forward: oifname "br-int" iifname != "br-int" drop
input: iifname "br-int" ip daddr != 10.6.0.1 drop
`
	if got := Text(s); got != want {
		t.Fatalf("rules:\n%s\nwant:\n%s", got, want)
	}
	for _, r := range Build(s) {
		// Every rule ends in its action, and each match has its expressions.
		switch r.Exprs[len(r.Exprs)-1].(type) {
		case *expr.Verdict, *expr.NAT, *expr.Masq:
		default:
			t.Errorf("%s: ends with %T", r.Text, r.Exprs[len(r.Exprs)-1])
		}
		if strings.Count(r.Text, " ") > 0 && len(r.Exprs) < 2 {
			t.Errorf("%s: %d expressions", r.Text, len(r.Exprs))
		}
	}
}

func TestIPMatchBytes(t *testing.T) {
	r := (&rb{}).ip(false, netip.MustParsePrefix("10.5.0.7/24"), false).rule("x")
	if r.Text != "ip saddr 10.5.0.0/24" {
		t.Fatalf("text %q", r.Text)
	}
	bw := r.Exprs[1].(*expr.Bitwise)
	cmp := r.Exprs[2].(*expr.Cmp)
	if string(bw.Mask) != "\xff\xff\xff\x00" || string(cmp.Data) != "\x0a\x05\x00\x00" {
		t.Fatalf("mask %x data %x", bw.Mask, cmp.Data)
	}
}

func TestBuildIPv6(t *testing.T) {
	s := State{
		Networks: []Network{
			{Bridge: "br-v6", Subnet: netip.MustParsePrefix("10.5.0.0/24"), Gateway: netip.MustParseAddr("10.5.0.1"),
				Subnet6: netip.MustParsePrefix("fd00:1::/64"), Gateway6: netip.MustParseAddr("fd00:1::1")},
			{Bridge: "br-i6", Subnet: netip.MustParsePrefix("10.6.0.0/24"), Gateway: netip.MustParseAddr("10.6.0.1"), Internal: true,
				Subnet6: netip.MustParsePrefix("fd00:2::/64"), Gateway6: netip.MustParseAddr("fd00:2::1")},
		},
		Ports: []Port{
			{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.5.0.2"), ContainerPort: 80},
			{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("fd00:1::2"), ContainerPort: 80},
			{Proto: "udp", HostIP: netip.MustParseAddr("fd00:1::1"), HostPort: 53, ContainerIP: netip.MustParseAddr("fd00:1::2"), ContainerPort: 53},
		},
	}
	got := Text(s)
	for _, want := range []string{
		"ports: tcp dport 8080 dnat to 10.5.0.2:80\n",
		"ip6 prerouting: fib daddr type local jump ports\n",
		"ip6 ports: ip6 daddr != ::1 tcp dport 8080 dnat to [fd00:1::2]:80\n",
		"ip6 ports: ip6 daddr fd00:1::1 udp dport 53 dnat to [fd00:1::2]:53\n",
		"ip6 postrouting: ip6 saddr fd00:1::/64 oifname != \"br-v6\" masquerade\n",
		"ip6 postrouting: oifname \"br-v6\" ct status dnat ip6 saddr fd00:1::/64 masquerade\n",
		"ip6 forward: iifname \"br-i6\" oifname != \"br-i6\" drop\n",
		"ip6 input: iifname \"br-i6\" ip6 daddr != fd00:2::1 drop\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ip6 postrouting: oifname \"br-v6\" ct status dnat ip6 saddr ::1") || strings.Count(got, "dnat to") != 3 {
		t.Errorf("unexpected rules:\n%s", got)
	}
	if Text(State{Networks: s.Networks[:0]}) != "prerouting: fib daddr type local jump ports\noutput: fib daddr type local jump ports\n" {
		t.Error("an ip6 table without IPv6 networks")
	}
	r := (&rb{v6: true}).ip(true, netip.MustParsePrefix("fd00:1::/64"), false).rule("x")
	pl, bw, cmp := r.Exprs[0].(*expr.Payload), r.Exprs[1].(*expr.Bitwise), r.Exprs[2].(*expr.Cmp)
	if pl.Offset != 24 || pl.Len != 16 || len(bw.Mask) != 16 || bw.Mask[7] != 0xff || bw.Mask[8] != 0 || len(cmp.Data) != 16 || cmp.Data[0] != 0xfd {
		t.Fatalf("payload %+v mask %x data %x", pl, bw.Mask, cmp.Data)
	}
}
