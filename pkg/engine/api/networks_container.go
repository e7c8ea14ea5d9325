package api

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/containers"
	enet "github.com/berthd/berth/pkg/engine/network"
)

// networkMode is the mode ps and inspect show ("bridge" for the default).
func networkMode(c containers.Container) string {
	if c.HostConfig == nil || c.HostConfig.NetworkMode == "" || c.HostConfig.NetworkMode == "default" {
		return enet.NameBridge
	}
	if c.Config != nil && c.Config.NetworkDisabled {
		return enet.NameNone
	}
	return string(c.HostConfig.NetworkMode)
}

// containerNetworks is the container's Networks map and published ports,
// as dockerd's inspect has them: every network by name, with the live
// address while the container runs; Ports only while it runs (exposed but
// unpublished ports with a null binding).
func (s *Server) containerNetworks(c containers.Container) (map[string]*network.EndpointSettings, network.PortMap, *enet.Info) {
	nets := map[string]*network.EndpointSettings{}
	ports := network.PortMap{}
	m := s.d.Network()
	if m == nil {
		return nets, ports, nil
	}
	info, ok := m.Info(c.ID)
	if !ok {
		// none, host: the predefined network of that name.
		if n, err := m.Get(networkMode(c)); err == nil {
			nets[n.Name] = &network.EndpointSettings{NetworkID: n.ID}
		}
		return nets, ports, nil
	}
	for _, ep := range info.Endpoints {
		es := &network.EndpointSettings{NetworkID: ep.Network.ID, EndpointID: ep.EndpointID, Aliases: ep.Aliases, DNSNames: ep.DNSNames}
		if ep.WantIP.IsValid() || ep.WantIP6.IsValid() {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.WantIP, IPv6Address: ep.WantIP6}
		}
		if ep.Addr.IsValid() {
			es.IPAddress, es.IPPrefixLen, es.Gateway = ep.Addr, ep.Network.Subnet.Bits(), ep.Gateway
			es.MacAddress, _ = parseMAC(ep.MAC)
		}
		if ep.Addr6.IsValid() {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.Addr6, ep.Network.Subnet6.Bits(), ep.Gateway6
		}
		nets[ep.Network.Name] = es
	}
	if info.Running && c.State.Running {
		if c.Config != nil {
			for p := range c.Config.ExposedPorts {
				ports[p] = nil
			}
		}
		for _, mp := range info.Mappings {
			p, _ := network.PortFrom(mp.ContainerPort, network.IPProtocol(mp.Proto))
			hostIP := mp.HostIP
			if !hostIP.IsValid() {
				hostIP = netip.IPv4Unspecified()
			}
			ports[p] = append(ports[p], network.PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(mp.HostPort))})
			if !mp.HostIP.IsValid() && info.PortsIPv6 {
				// Published on :: too, as dockerd shows it.
				ports[p] = append(ports[p], network.PortBinding{HostIP: netip.IPv6Unspecified(), HostPort: strconv.Itoa(int(mp.HostPort))})
			}
		}
	}
	return nets, ports, &info
}

// networkSettings fills inspect's NetworkSettings; the top-level fields
// are those of the default bridge's endpoint, as dockerd's before 1.52.
func (s *Server) networkSettings(c containers.Container) *networkSettings {
	nets, ports, info := s.containerNetworks(c)
	ns := &networkSettings{Networks: nets, Ports: ports}
	if info != nil && info.SandboxKey != "" {
		ns.SandboxKey, ns.SandboxID = info.SandboxKey, c.ID
	}
	if ep := nets[enet.NameBridge]; ep != nil && ep.IPAddress.IsValid() {
		ns.EndpointID, ns.IPAddress, ns.IPPrefixLen = ep.EndpointID, ep.IPAddress.String(), ep.IPPrefixLen
		ns.Gateway, ns.MacAddress = ep.Gateway.String(), ep.MacAddress.String()
		if ep.GlobalIPv6Address.IsValid() {
			ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen, ns.IPv6Gateway = ep.GlobalIPv6Address.String(), ep.GlobalIPv6PrefixLen, ep.IPv6Gateway.String()
		}
		if m := s.d.Network(); m != nil {
			if n, err := m.Get(enet.NameBridge); err == nil {
				ns.Bridge = n.Bridge
			}
		}
	}
	return ns
}

// addNetworks fills a ps line's Ports and Networks.
func (s *Server) addNetworks(sum *container.Summary, c containers.Container) {
	nets, _, _ := s.containerNetworks(c)
	sum.Ports = s.portSummary(c)
	sum.NetworkSettings = &container.NetworkSettingsSummary{Networks: nets}
}

// networkMatch applies the network, publish and expose filters of ps.
func (lf *listFilter) networkMatch(c containers.Container) bool {
	_, hasNet := lf.f["network"]
	if !hasNet && len(lf.publish) == 0 && len(lf.expose) == 0 {
		return true
	}
	nets, ports := lf.networksOf(c)
	if hasNet && !lf.f.anyOf("network", func(v string) bool {
		for name, ep := range nets {
			if v == name || ep != nil && strings.HasPrefix(ep.NetworkID, v) {
				return true
			}
		}
		return false
	}) {
		return false
	}
	if len(lf.publish) > 0 {
		found := false
		for p, bs := range ports {
			found = found || len(bs) > 0 && lf.publish[p.String()]
		}
		if !found {
			return false
		}
	}
	if len(lf.expose) > 0 {
		found := false
		if c.Config != nil {
			for p := range c.Config.ExposedPorts {
				found = found || lf.expose[p.String()]
			}
		}
		for p := range ports {
			found = found || lf.expose[p.String()]
		}
		if !found {
			return false
		}
	}
	return true
}

// portSummary is ps's Ports: published ports with their host side,
// exposed ones without.
func (s *Server) portSummary(c containers.Container) []container.PortSummary {
	out := []container.PortSummary{}
	_, ports, _ := s.containerNetworks(c)
	for p, bs := range ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range bs {
			n, _ := strconv.Atoi(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(n), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].PublicPort < out[j].PublicPort
	})
	return out
}
