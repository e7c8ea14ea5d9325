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

// Lookup returns the addresses of a container name as the asking
// container sees it; nil when the name is not one of theirs.
type Lookup func(name string) []netip.Addr

// Server is one container's resolver.
type Server struct {
	pc  net.PacketConn
	ln  net.Listener
	udp *mdns.Server
	tcp *mdns.Server
}

// Start opens 127.0.0.11:53 (udp and tcp) in the namespace at nsPath and
// serves it. upstreams are "ip" or "ip:port" resolvers for other names.
func Start(nsPath string, lookup Lookup, upstreams []string) (*Server, error) {
	pc, ln, err := listenIn(nsPath)
	if err != nil {
		return nil, err
	}
	h := &handler{lookup: lookup, upstreams: upstreams}
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
	lookup    Lookup
	upstreams []string
}

func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	if len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if q.Qclass == mdns.ClassINET && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA) {
		if addrs := h.lookup(name); len(addrs) > 0 {
			m := new(mdns.Msg)
			m.SetReply(req)
			m.Authoritative = true
			if q.Qtype == mdns.TypeA {
				for _, a := range addrs {
					b := a.As4()
					m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: TTL}, A: net.IP(b[:])})
				}
			}
			// AAAA of a container name: no IPv6 yet, an empty answer.
			w.WriteMsg(m)
			return
		}
	}
	w.WriteMsg(h.forward(req, w.RemoteAddr().Network()))
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
