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
	lookup := func(name string) []netip.Addr {
		if name == "web" {
			return []netip.Addr{netip.MustParseAddr("10.1.0.2")}
		}
		return nil
	}
	addr := serve(t, &handler{lookup: lookup, upstreams: []string{upstream}})

	r := ask(t, addr, "WEB", mdns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.1.0.2" || r.Answer[0].Header().Ttl != TTL || !r.Authoritative {
		t.Fatalf("A web: %v", r)
	}
	if r := ask(t, addr, "web", mdns.TypeAAAA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("AAAA web: %v", r)
	}
	if r := ask(t, addr, "example.org", mdns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.99" {
		t.Fatalf("forwarded: %v", r)
	}
	none := serve(t, &handler{lookup: lookup})
	if r := ask(t, none, "example.org", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstream: %v", r)
	}
}
