// Package nft keeps the engine's packet filtering and NAT in nftables
// tables of its own, one name in two families (ip, and ip6 while some
// network has IPv6): masquerade out of the networks that are not
// internal, DNAT of published ports (also for connections from the host to
// 127.0.0.1 and from containers through the host, hairpin), isolation
// between networks and no way out of internal ones. It talks netlink through
// github.com/google/nftables; it never shells out and never touches another
// table.
//
// The table is rebuilt whole from a State at each change, in one netlink
// batch (add, delete, add again), which the kernel applies atomically: there
// is never a moment without the rules, and a crash of engined leaves the
// last complete table in place (published ports keep working) until the
// next engined applies its reconciled state.
package nft

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Network is one bridge network's part of the rules.
type Network struct {
	Bridge   string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
	// Subnet6 and Gateway6: the IPv6 pool of an --ipv6 network (zero:
	// none); its rules go in the ip6 table.
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
}

// Port is one published port. ContainerIP's family says the table: an
// IPv4 one in ip, an IPv6 one in ip6 (HostIP, when given, is of the same
// family).
type Port struct {
	Proto         string     // tcp, udp or sctp
	HostIP        netip.Addr // zero: every local address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// State is everything the table holds.
type State struct {
	Networks []Network
	Ports    []Port
}

// Chains of the table, with their hooks.
const (
	ChainPrerouting  = "prerouting"
	ChainOutput      = "output"
	ChainPorts       = "ports"
	ChainPostrouting = "postrouting"
	ChainForward     = "forward"
	ChainInput       = "input"
)

// Rule is one rule: its table's family, its chain, its nft(8) text (for
// tests, logs and docs) and its expressions.
type Rule struct {
	V6    bool // in the ip6 table
	Chain string
	Text  string
	Exprs []expr.Any
}

// rb builds a rule from matches, keeping text and expressions together;
// v6 builds for the ip6 table.
type rb struct {
	v6   bool
	text []string
	ex   []expr.Any
}

func (r *rb) add(text string, ex ...expr.Any) *rb {
	r.text = append(r.text, text)
	r.ex = append(r.ex, ex...)
	return r
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

func cmpOp(neq bool) expr.CmpOp {
	if neq {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func neqText(neq bool) string {
	if neq {
		return "!= "
	}
	return ""
}

func (r *rb) iif(name string, neq bool) *rb {
	return r.add(fmt.Sprintf("iifname %s%q", neqText(neq), name),
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: cmpOp(neq), Register: 1, Data: ifname(name)})
}

func (r *rb) oif(name string, neq bool) *rb {
	return r.add(fmt.Sprintf("oifname %s%q", neqText(neq), name),
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: cmpOp(neq), Register: 1, Data: ifname(name)})
}

// ip matches the source or destination address against a prefix or, with
// a full-length one, one address. The header offsets: 12 and 16 in IPv4,
// 8 and 24 in IPv6.
func (r *rb) ip(dst bool, p netip.Prefix, neq bool) *rb {
	field, off := "saddr", uint32(12)
	if dst {
		field, off = "daddr", 16
	}
	kw := "ip"
	if r.v6 {
		kw, off = "ip6", off-4
		if dst {
			off = 24
		}
	}
	p = p.Masked()
	a := p.Addr().AsSlice()
	n := uint32(len(a))
	ex := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	text := p.String()
	if p.Bits() < p.Addr().BitLen() {
		mask := net.CIDRMask(p.Bits(), p.Addr().BitLen())
		ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	} else {
		text = p.Addr().String()
	}
	ex = append(ex, &expr.Cmp{Op: cmpOp(neq), Register: 1, Data: a})
	return r.add(fmt.Sprintf("%s %s %s%s", kw, field, neqText(neq), text), ex...)
}

func protoNum(p string) byte {
	switch p {
	case "udp":
		return unix.IPPROTO_UDP
	case "sctp":
		return unix.IPPROTO_SCTP
	default:
		return unix.IPPROTO_TCP
	}
}

// dport matches the layer 4 protocol and destination port (the first two
// bytes of the transport header are the source port for tcp, udp and sctp
// alike, the next two the destination).
func (r *rb) dport(proto string, port uint16) *rb {
	return r.add(fmt.Sprintf("%s dport %d", proto, port),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNum(proto)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)})
}

// localDst matches packets addressed to one of the host's own addresses.
func (r *rb) localDst() *rb {
	return r.add("fib daddr type local",
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)})
}

// ctDNAT matches connections whose destination was translated (published
// ports).
func (r *rb) ctDNAT() *rb {
	const ipsDstNat = 1 << 5
	return r.add("ct status dnat",
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, ipsDstNat), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

func (r *rb) dnat(ip netip.Addr, port uint16) *rb {
	family := uint32(unix.NFPROTO_IPV4)
	if ip.Is6() {
		family = unix.NFPROTO_IPV6
	}
	return r.add("dnat to "+netip.AddrPortFrom(ip, port).String(),
		&expr.Immediate{Register: 1, Data: ip.AsSlice()},
		&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: family, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
}

func (r *rb) masquerade() *rb { return r.add("masquerade", &expr.Masq{}) }
func (r *rb) drop() *rb       { return r.add("drop", &expr.Verdict{Kind: expr.VerdictDrop}) }
func (r *rb) jump(chain string) *rb {
	return r.add("jump "+chain, &expr.Verdict{Kind: expr.VerdictJump, Chain: chain})
}

func (r *rb) rule(chain string) Rule {
	return Rule{V6: r.v6, Chain: chain, Text: strings.Join(r.text, " "), Exprs: r.ex}
}

var (
	loopback  = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.PrefixFrom(netip.IPv6Loopback(), 128)
)

// Build returns the rules of s, in order: the ip table's, then the ip6
// table's (none when no network has IPv6).
func Build(s State) []Rule {
	out := build(s, false)
	for _, n := range s.Networks {
		if n.Subnet6.IsValid() {
			return append(out, build(s, true)...)
		}
	}
	return out
}

// build returns the rules of one family. In ip6 the networks' subnets and
// gateways are their IPv6 ones, and the ports those with an IPv6
// container address.
func build(s State, v6 bool) []Rule {
	var nets []Network
	for _, n := range s.Networks {
		if v6 {
			if !n.Subnet6.IsValid() {
				continue
			}
			n.Subnet, n.Gateway = n.Subnet6, n.Gateway6
		}
		nets = append(nets, n)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Bridge < nets[j].Bridge })
	rb := func() *rb { return &rb{v6: v6} }
	var out []Rule
	// Published ports: from outside and from containers (prerouting), and
	// from the host itself, 127.0.0.1 included (output).
	out = append(out,
		rb().localDst().jump(ChainPorts).rule(ChainPrerouting),
		rb().localDst().jump(ChainPorts).rule(ChainOutput))
	var ports []Port
	for _, p := range s.Ports {
		if p.ContainerIP.Is6() == v6 && (!p.HostIP.IsValid() || p.HostIP.Is6() == v6) {
			ports = append(ports, p)
		}
	}
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].HostPort != ports[j].HostPort {
			return ports[i].HostPort < ports[j].HostPort
		}
		return ports[i].Proto < ports[j].Proto
	})
	for _, p := range ports {
		r := rb()
		switch {
		case p.HostIP.IsValid() && !p.HostIP.IsUnspecified():
			r.ip(true, netip.PrefixFrom(p.HostIP, p.HostIP.BitLen()), false)
		case v6:
			// No route takes ::1 out of the host (IPv6 has no
			// route_localnet): a connection to [::1]:P is left to fail
			// at once instead of being translated into a black hole.
			r.ip(true, loopback6, true)
		}
		out = append(out, r.dport(p.Proto, p.HostPort).dnat(p.ContainerIP, p.ContainerPort).rule(ChainPorts))
	}
	for _, n := range nets {
		if !n.Internal {
			// Out to the world with the host's address.
			out = append(out, rb().ip(false, n.Subnet, false).oif(n.Bridge, true).masquerade().rule(ChainPostrouting))
		}
		// To a published port from the host's loopback (route_localnet
		// lets such packets leave through the bridge) or from a container
		// of the same network (hairpin): the reply must come back through
		// the host, so the source becomes the gateway.
		if !v6 {
			out = append(out, rb().oif(n.Bridge, false).ctDNAT().ip(false, loopback, false).masquerade().rule(ChainPostrouting))
		}
		out = append(out, rb().oif(n.Bridge, false).ctDNAT().ip(false, n.Subnet, false).masquerade().rule(ChainPostrouting))
	}
	// Isolation: no forwarding between two networks; none in or out of an
	// internal one, nor to the host's addresses but its gateway.
	for _, a := range nets {
		if a.Internal {
			out = append(out,
				rb().iif(a.Bridge, false).oif(a.Bridge, true).drop().rule(ChainForward),
				rb().oif(a.Bridge, false).iif(a.Bridge, true).drop().rule(ChainForward),
				rb().iif(a.Bridge, false).ip(true, netip.PrefixFrom(a.Gateway, a.Gateway.BitLen()), true).drop().rule(ChainInput))
			continue
		}
		for _, b := range nets {
			if a.Bridge != b.Bridge && !b.Internal {
				out = append(out, rb().iif(a.Bridge, false).oif(b.Bridge, false).drop().rule(ChainForward))
			}
		}
	}
	return out
}

// Text renders the rules of s as nft(8) would list them, chain by chain.
func Text(s State) string {
	var b strings.Builder
	for _, r := range Build(s) {
		if r.V6 {
			b.WriteString("ip6 ")
		}
		fmt.Fprintf(&b, "%s: %s\n", r.Chain, r.Text)
	}
	return b.String()
}

type chainDef struct {
	name string
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

var chains = []chainDef{
	{ChainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
	{ChainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
	{ChainPorts, "", nil, nil},
	{ChainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource},
	{ChainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter},
	{ChainInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter},
}

// Apply replaces table (family ip, and family ip6 while a network has
// IPv6; otherwise an ip6 table of that name is deleted) with the rules of
// s, both in one atomic batch.
func Apply(table string, s State) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	rules := Build(s)
	has6 := false
	for _, r := range rules {
		has6 = has6 || r.V6
	}
	byName := map[bool]map[string]*nftables.Chain{}
	accept := nftables.ChainPolicyAccept
	for _, v6 := range []bool{false, true} {
		family := nftables.TableFamilyIPv4
		if v6 {
			family = nftables.TableFamilyIPv6
		}
		t := &nftables.Table{Name: table, Family: family}
		// Adding first makes the delete valid when the table does not
		// exist yet.
		c.AddTable(t)
		c.DelTable(t)
		if v6 && !has6 {
			continue
		}
		c.AddTable(t)
		byName[v6] = map[string]*nftables.Chain{}
		for _, d := range chains {
			ch := &nftables.Chain{Name: d.name, Table: t, Type: d.typ, Hooknum: d.hook, Priority: d.prio}
			if d.hook != nil {
				ch.Policy = &accept
			}
			byName[v6][d.name] = c.AddChain(ch)
		}
	}
	for _, r := range rules {
		ch := byName[r.V6][r.Chain]
		c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: r.Exprs})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: replace table %s: %w", table, err)
	}
	return nil
}
