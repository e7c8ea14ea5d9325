// Package dns is the embedded DNS server of user-defined networks, as
// dockerd's 127.0.0.11: its sockets are opened inside the container's
// network namespace (so the container asks 127.0.0.11:53) and served by
// engined, which answers the names of the containers on the same networks
// and forwards the rest to the upstream resolvers from the host's own
// namespace (so the host's loopback resolvers work too).
package dns

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// Address is where containers find the server.
const Address = "127.0.0.11"

// TTL of the answers about containers (dockerd's).
const TTL = 600

// Names are the records of the containers as the asking container sees
// them.
type Names interface {
	// Lookup returns the addresses (IPv4 and IPv6) of a container's name,
	// alias, short ID or hostname; nil when the name is not one of theirs.
	Lookup(name string) []netip.Addr
	// Reverse returns the names an address has (NAME.NETWORK, as
	// dockerd's PTR records); nil when it is not a container's.
	Reverse(addr netip.Addr) []string
}

// Server is one container's resolver.
type Server struct {
	pc  net.PacketConn
	ln  net.Listener
	udp *mdns.Server
	tcp *mdns.Server
}

// Start opens 127.0.0.11:53 (udp and tcp) in the namespace at nsPath and
// serves it. upstreams are "ip" or "ip:port" resolvers for other names.
func Start(nsPath string, names Names, upstreams []string) (*Server, error) {
	pc, ln, err := listenIn(nsPath)
	if err != nil {
		return nil, err
	}
	h := &handler{names: names, upstreams: upstreams}
	s := &Server{pc: pc, ln: ln,
		udp: &mdns.Server{PacketConn: pc, Handler: h},
		tcp: &mdns.Server{Listener: ln, Handler: h}}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	return s, nil
}

// Close closes the sockets at once (queries being answered finish on
// their own), so that it never waits for a handler.
func (s *Server) Close() {
	s.pc.Close()
	s.ln.Close()
}

// listenIn opens the sockets on a thread moved into the namespace; the
// sockets stay in it when the thread goes back.
func listenIn(nsPath string) (pc net.PacketConn, ln net.Listener, err error) {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: netns %s: %w", nsPath, err)
	}
	defer target.Close()
	type result struct {
		pc  net.PacketConn
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return // the thread ends with the goroutine, still locked
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			ch <- result{err: err}
			return
		}
		var r result
		addr := net.JoinHostPort(Address, "53")
		if r.pc, r.err = net.ListenPacket("udp4", addr); r.err == nil {
			if r.ln, r.err = net.Listen("tcp4", addr); r.err != nil {
				r.pc.Close()
			}
		}
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: Go ends it with the goroutine.
			ch <- r
			return
		}
		runtime.UnlockOSThread()
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		return nil, nil, fmt.Errorf("dns: listen in %s: %w", nsPath, r.err)
	}
	return r.pc, r.ln, nil
}

type handler struct {
	names     Names
	upstreams []string
}

func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	if len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	if m := h.answer(req); m != nil {
		w.WriteMsg(m)
		return
	}
	w.WriteMsg(h.forward(req, w.RemoteAddr().Network()))
}

// answer answers a question about the containers: A and AAAA of their
// names (a name known with no address of the asked family gets an empty
// answer, not a forward), PTR of their addresses. nil: not theirs.
func (h *handler) answer(req *mdns.Msg) *mdns.Msg {
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET {
		return nil
	}
	hdr := mdns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: mdns.ClassINET, Ttl: TTL}
	var rrs []mdns.RR
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		addrs := h.names.Lookup(strings.ToLower(strings.TrimSuffix(q.Name, ".")))
		if len(addrs) == 0 {
			return nil
		}
		rrs = []mdns.RR{}
		for _, a := range addrs {
			switch {
			case q.Qtype == mdns.TypeA && a.Is4():
				rrs = append(rrs, &mdns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
			case q.Qtype == mdns.TypeAAAA && a.Is6():
				rrs = append(rrs, &mdns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
			}
		}
	case mdns.TypePTR:
		a, ok := fromReverse(q.Name)
		if !ok {
			return nil
		}
		for _, n := range h.names.Reverse(a) {
			rrs = append(rrs, &mdns.PTR{Hdr: hdr, Ptr: mdns.Fqdn(n)})
		}
		if len(rrs) == 0 {
			return nil
		}
	default:
		return nil
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Answer = rrs
	return m
}

// fromReverse reads the address of an in-addr.arpa or ip6.arpa name.
func fromReverse(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		f := strings.Split(v4, ".")
		if len(f) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(f[3] + "." + f[2] + "." + f[1] + "." + f[0])
		return a, err == nil
	}
	if v6, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		f := strings.Split(v6, ".")
		if len(f) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(f[i]) != 1 {
				return netip.Addr{}, false
			}
			b.WriteString(f[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, err := netip.ParseAddr(b.String())
		return a, err == nil && a.Is6()
	}
	return netip.Addr{}, false
}

// forward asks the upstreams in turn, from engined's own namespace.
func (h *handler) forward(req *mdns.Msg, network string) *mdns.Msg {
	c := &mdns.Client{Net: network, Timeout: 3 * time.Second}
	for _, u := range h.upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		if r, _, err := c.Exchange(req, u); err == nil && r != nil {
			return r
		}
	}
	m := new(mdns.Msg)
	m.SetRcode(req, mdns.RcodeServerFailure)
	return m
}
