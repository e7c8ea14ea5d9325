package dns

import (
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// serve runs h on a loopback UDP port of the test's own namespace.
func serve(t *testing.T, h mdns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func ask(t *testing.T, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	r, _, err := (&mdns.Client{}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func TestHandler(t *testing.T) {
	upstream := serve(t, mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: req.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 99)})
		w.WriteMsg(m)
	}))
	names := fakeNames{"web": {netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00:1::2")}, "v4only": {netip.MustParseAddr("10.1.0.3")}}
	addr := serve(t, &handler{names: names, upstreams: []string{upstream}})

	r := ask(t, addr, "WEB", mdns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.1.0.2" || r.Answer[0].Header().Ttl != TTL || !r.Authoritative {
		t.Fatalf("A web: %v", r)
	}
	if r := ask(t, addr, "web", mdns.TypeAAAA); len(r.Answer) != 1 || r.Answer[0].(*mdns.AAAA).AAAA.String() != "fd00:1::2" {
		t.Fatalf("AAAA web: %v", r)
	}
	if r := ask(t, addr, "v4only", mdns.TypeAAAA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || !r.Authoritative {
		t.Fatalf("AAAA v4only: %v", r)
	}
	for q, want := range map[string]string{
		"2.0.1.10.in-addr.arpa": "web.net.",
		"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa": "web.net.",
	} {
		if r := ask(t, addr, q, mdns.TypePTR); len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != want {
			t.Fatalf("PTR %s: %v", q, r)
		}
	}
	// An address of no container is forwarded.
	if r := ask(t, addr, "9.0.1.10.in-addr.arpa", mdns.TypePTR); len(r.Answer) != 1 {
		t.Fatalf("PTR forwarded: %v", r)
	}
	if r := ask(t, addr, "example.org", mdns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.99" {
		t.Fatalf("forwarded: %v", r)
	}
	none := serve(t, &handler{names: names})
	if r := ask(t, none, "example.org", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstream: %v", r)
	}
}

type fakeNames map[string][]netip.Addr

func (f fakeNames) Lookup(name string) []netip.Addr { return f[name] }
func (f fakeNames) Reverse(a netip.Addr) []string {
	for n, as := range f {
		for _, x := range as {
			if x == a {
				return []string{n + ".net"}
			}
		}
	}
	return nil
}

func TestFromReverse(t *testing.T) {
	for _, bad := range []string{"1.2.3.in-addr.arpa", "x.2.3.4.in-addr.arpa", "1.ip6.arpa", "example.org"} {
		if _, ok := fromReverse(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
