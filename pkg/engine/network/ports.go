package network

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

// PortSpec is one port a container asks to publish: a container port, and
// the host address and port range to publish it on (HostStart 0: a random
// port of the ephemeral range).
type PortSpec struct {
	Proto         string     `json:"proto"`
	ContainerPort uint16     `json:"containerPort"`
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostStart     uint16     `json:"hostStart,omitempty"`
	HostEnd       uint16     `json:"hostEnd,omitempty"`
}

// Mapping is a published port once its host port is chosen.
type Mapping struct {
	Proto         string     `json:"proto"`
	ContainerPort uint16     `json:"containerPort"`
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"`
}

// ParsePorts reads the create request's PortBindings (what the docker CLI
// made of -p [ip:][hostPort[-range]:]containerPort[/proto]) and, with
// publishAll (-P), the exposed ports without a binding, each on a random
// host port.
func ParsePorts(bindings network.PortMap, exposed network.PortSet, publishAll bool) ([]PortSpec, error) {
	var out []PortSpec
	seen := map[network.Port]bool{}
	keys := make([]network.Port, 0, len(bindings))
	for p := range bindings {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return portLess(keys[i], keys[j]) })
	for _, p := range keys {
		if !p.IsValid() || p.Num() == 0 {
			return nil, invalidf("invalid port specification: %q", p.String())
		}
		proto := string(p.Proto())
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, invalidf("invalid proto: %s", proto)
		}
		seen[p] = true
		bs := bindings[p]
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			s := PortSpec{Proto: proto, ContainerPort: p.Num(), HostIP: b.HostIP}
			if b.HostIP.IsValid() && (b.HostIP.IsLoopback() && b.HostIP.Is6() || b.HostIP.Is4In6()) {
				// No userland proxy: the kernel routes no ::1 traffic out
				// of the host, so no rule could lead it to the container.
				return nil, invalidf("publishing on %s is not supported: berth has no userland proxy, and IPv6 loopback traffic cannot be translated to a container (publish on 127.0.0.1 or another address)", b.HostIP)
			}
			if b.HostPort != "" {
				start, end, err := parseHostPorts(b.HostPort)
				if err != nil {
					return nil, err
				}
				s.HostStart, s.HostEnd = start, end
			}
			out = append(out, s)
		}
	}
	if publishAll {
		exp := make([]network.Port, 0, len(exposed))
		for p := range exposed {
			if !seen[p] {
				exp = append(exp, p)
			}
		}
		sort.Slice(exp, func(i, j int) bool { return portLess(exp[i], exp[j]) })
		for _, p := range exp {
			out = append(out, PortSpec{Proto: string(p.Proto()), ContainerPort: p.Num()})
		}
	}
	return out, nil
}

func portLess(a, b network.Port) bool {
	if a.Num() != b.Num() {
		return a.Num() < b.Num()
	}
	return a.Proto() < b.Proto()
}

// parseHostPorts reads "8080", "8000-8010" or "0" (any).
func parseHostPorts(s string) (uint16, uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, invalidf("invalid hostPort: %s", s)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return 0, 0, invalidf("invalid hostPort: %s", s)
		}
	}
	if a == 0 {
		return 0, 0, nil
	}
	return uint16(a), uint16(b), nil
}

// ephemeralRange is the host's ip_local_port_range, where random host
// ports come from (dockerd does the same).
func ephemeralRange() (uint16, uint16) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, e1 := strconv.ParseUint(f[0], 10, 16)
			hi, e2 := strconv.ParseUint(f[1], 10, 16)
			if e1 == nil && e2 == nil && lo <= hi {
				return uint16(lo), uint16(hi)
			}
		}
	}
	return 32768, 60999
}

// portTaken says whether one of our mappings already holds proto/port on
// an address that overlaps ip.
type portTaken func(proto string, ip netip.Addr, port uint16) bool

func overlaps(a, b netip.Addr) bool {
	return !a.IsValid() || !b.IsValid() || a.IsUnspecified() || b.IsUnspecified() || a == b
}

// holdPort binds (without listening) a socket to the host port while it
// is published, as dockerd does: a process of the host that listens there
// already makes the publish fail, and none can take it afterwards (the
// DNAT rule would hide it silently). Nothing arrives on the socket: the
// rules translate the traffic before it would reach it.
// An IPv6 address (:: for all of them) is held by an IPv6-only socket.
func holdPort(proto string, ip netip.Addr, port uint16) (io.Closer, error) {
	typ, p := unix.SOCK_STREAM, unix.IPPROTO_TCP
	switch proto {
	case "udp":
		typ, p = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	case "sctp":
		typ, p = unix.SOCK_STREAM, unix.IPPROTO_SCTP
	}
	family, host, fam := unix.AF_INET, "0.0.0.0", "4"
	if ip.Is6() {
		family, host, fam = unix.AF_INET6, "::", "6"
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, p)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port)}
	if ip.Is6() {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("socket: IPV6_V6ONLY: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	} else if ip.IsValid() {
		sa.(*unix.SockaddrInet4).Addr = ip.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if ip.IsValid() {
			host = ip.String()
		}
		return nil, fmt.Errorf("listen %s%s %s: bind: %w", proto, fam, net.JoinHostPort(host, strconv.Itoa(int(port))), err)
	}
	return os.NewFile(uintptr(fd), "port"), nil
}

// multiCloser closes several held sockets as one.
type multiCloser []io.Closer

func (m multiCloser) Close() error {
	closeAll(m)
	return nil
}

// holdDual holds a port published without a host address on both
// families when the container can be reached over IPv6 too (as dockerd,
// which publishes it on 0.0.0.0 and ::): the IPv4 socket and an IPv6-only
// one on ::. An explicit 0.0.0.0 stays IPv4 only.
func holdDual(hold func(string, netip.Addr, uint16) (io.Closer, error), dual bool) func(string, netip.Addr, uint16) (io.Closer, error) {
	return func(proto string, ip netip.Addr, port uint16) (io.Closer, error) {
		h4, err := hold(proto, ip, port)
		if err != nil || !dual || ip.IsValid() {
			return h4, err
		}
		h6, err := hold(proto, netip.IPv6Unspecified(), port)
		if err != nil {
			h4.Close()
			return nil, err
		}
		return multiCloser{h4, h6}, nil
	}
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// allocate chooses the host port of each spec: the first free one of its
// range, or a random free one of the ephemeral range, and holds it (see
// holdPort). Ports that our own mappings hold are "already allocated", as
// in dockerd; a port some other process has fails with the bind error.
func allocate(specs []PortSpec, taken portTaken, hold func(string, netip.Addr, uint16) (io.Closer, error)) (_ []Mapping, held []io.Closer, err error) {
	defer func() {
		if err != nil {
			closeAll(held)
			held = nil
		}
	}()
	var out []Mapping
	mine := func(proto string, ip netip.Addr, port uint16) bool {
		for _, m := range out {
			if m.Proto == proto && m.HostPort == port && overlaps(m.HostIP, ip) {
				return true
			}
		}
		return taken(proto, ip, port)
	}
	for _, s := range specs {
		hostIP := s.HostIP
		shown := "0.0.0.0"
		if hostIP.IsValid() {
			shown = hostIP.String()
			if hostIP.Is6() {
				shown = "[" + shown + "]"
			}
		}
		if s.HostStart != 0 {
			var lastErr error
			found := false
			for p := int(s.HostStart); p <= int(s.HostEnd); p++ {
				if mine(s.Proto, hostIP, uint16(p)) {
					lastErr = &errorMsg{msg: fmt.Sprintf("Bind for %s:%d failed: port is already allocated", shown, p), class: errdefs.ErrConflict}
					continue
				}
				h, err := hold(s.Proto, hostIP, uint16(p))
				if err != nil {
					lastErr = &errorMsg{msg: fmt.Sprintf("failed to bind host port for %s:%d:%s: %v", shown, p, s.Proto, err), class: errdefs.ErrConflict}
					continue
				}
				held = append(held, h)
				out = append(out, Mapping{Proto: s.Proto, ContainerPort: s.ContainerPort, HostIP: hostIP, HostPort: uint16(p)})
				found = true
				break
			}
			if !found {
				return nil, held, lastErr
			}
			continue
		}
		lo, hi := ephemeralRange()
		n := int(hi) - int(lo) + 1
		start := rand.IntN(n)
		found := false
		for i := 0; i < n; i++ {
			p := uint16(int(lo) + (start+i)%n)
			if mine(s.Proto, hostIP, p) {
				continue
			}
			h, err := hold(s.Proto, hostIP, p)
			if err != nil {
				continue
			}
			held = append(held, h)
			out = append(out, Mapping{Proto: s.Proto, ContainerPort: s.ContainerPort, HostIP: hostIP, HostPort: p})
			found = true
			break
		}
		if !found {
			return nil, held, &errorMsg{msg: "all ports are allocated", class: errdefs.ErrConflict}
		}
	}
	return out, held, nil
}
