package cri

import (
	"context"
	"fmt"
	"net"
	"strings"

	gocni "github.com/containerd/go-cni"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// Pod networking is the Kubernetes convention: the first network
// configuration of the CNI config directory (by file name), after a
// loopback network, is attached to the pod's network namespace by the
// plugins of the CNI plugin directories. The configuration is read again
// for each call, so one written after start-up is used (and turns the
// NetworkReady condition true) without a restart.

// DefaultCNIConfDir and DefaultCNIBinDirs are the Kubernetes convention
// and where Debian's containernetworking-plugins puts the plugins.
const DefaultCNIConfDir = "/etc/cni/net.d"

var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniInterface is the pod's interface, as the kubelet expects it.
const cniInterface = "eth"

func (s *Server) cni() (gocni.CNI, error) {
	c, err := gocni.New(
		gocni.WithMinNetworkCount(2),
		gocni.WithPluginConfDir(s.cfg.CNIConfDir),
		gocni.WithPluginDir(s.cfg.CNIBinDirs),
		gocni.WithInterfacePrefix(cniInterface),
	)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	if err := c.Load(gocni.WithLoNetwork, gocni.WithDefaultConf); err != nil {
		return nil, fmt.Errorf("cni: no network configuration in %s: %v: %w", s.cfg.CNIConfDir, err, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}

// networkStatus is nil when a pod network can be set up.
func (s *Server) networkStatus() error {
	c, err := s.cni()
	if err != nil {
		return err
	}
	return c.Status()
}

// cniOpts are the pod's CNI arguments: the Kubernetes ones (the
// bridge and host-local plugins ignore them, others key on them) and the
// port mappings for the portmap plugin.
func cniOpts(id string, cfg *runtimeapi.PodSandboxConfig) ([]gocni.NamespaceOpts, error) {
	md := cfg.GetMetadata()
	opts := []gocni.NamespaceOpts{
		gocni.WithLabels(map[string]string{
			"K8S_POD_NAMESPACE": md.GetNamespace(), "K8S_POD_NAME": md.GetName(),
			"K8S_POD_INFRA_CONTAINER_ID": id, "K8S_POD_UID": md.GetUid(),
			"IgnoreUnknown": "1",
		}),
	}
	var pms []gocni.PortMapping
	for i, pm := range cfg.GetPortMappings() {
		if pm.GetHostPort() <= 0 {
			// No host port: nothing to forward (the kubelet sends these
			// for documentation of the container's ports).
			continue
		}
		if pm.GetContainerPort() <= 0 || pm.GetContainerPort() > 65535 || pm.GetHostPort() > 65535 {
			return nil, fmt.Errorf("port_mappings[%d]: ports must be 1-65535: %w", i, errdefs.ErrInvalidArgument)
		}
		if ip := pm.GetHostIp(); ip != "" && net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("port_mappings[%d].host_ip %q: not an IP: %w", i, ip, errdefs.ErrInvalidArgument)
		}
		pms = append(pms, gocni.PortMapping{
			HostPort: pm.GetHostPort(), ContainerPort: pm.GetContainerPort(),
			Protocol: strings.ToLower(pm.GetProtocol().String()), HostIP: pm.GetHostIp(),
		})
	}
	if len(pms) > 0 {
		opts = append(opts, gocni.WithCapabilityPortMap(pms))
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		opts = append(opts, gocni.WithCapabilityDNS(gocni.DNS{Servers: dns.GetServers(), Searches: dns.GetSearches(), Options: dns.GetOptions()}))
	}
	return opts, nil
}

// setupNetwork attaches the pod's network namespace and returns its IPs,
// the first one of the pod's interface first.
func (s *Server) setupNetwork(ctx context.Context, id, netnsPath string, cfg *runtimeapi.PodSandboxConfig) ([]string, error) {
	opts, err := cniOpts(id, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	cidr := s.podCIDR
	s.mu.Unlock()
	if r := ipRanges(cidr); r != nil {
		opts = append(opts, gocni.WithCapability("ipRanges", r))
	}
	c, err := s.cni()
	if err != nil {
		return nil, err
	}
	res, err := c.Setup(ctx, id, netnsPath, opts...)
	if err != nil {
		return nil, fmt.Errorf("cni setup of pod %s: %w", id, err)
	}
	var ips []string
	for name, iface := range res.Interfaces {
		if !strings.HasPrefix(name, cniInterface) {
			continue
		}
		for _, ipc := range iface.IPConfigs {
			ips = append(ips, ipc.IP.String())
		}
	}
	// IPv4 first, as the kubelet takes the first as the pod's IP.
	for i := range ips {
		if net.ParseIP(ips[i]).To4() != nil {
			ips[0], ips[i] = ips[i], ips[0]
			break
		}
	}
	return ips, nil
}

// teardownNetwork detaches the pod's network namespace: every plugin's DEL
// runs (the host-local lease, the portmap rules, the veth go), also for a
// pod whose ADD failed halfway.
func (s *Server) teardownNetwork(ctx context.Context, id, netnsPath string, cfg *runtimeapi.PodSandboxConfig) error {
	opts, err := cniOpts(id, cfg)
	if err != nil {
		opts = nil // what was refused at ADD was never set up
	}
	c, err := s.cni()
	if err != nil {
		// Without a configuration there is no plugin to run DEL: what
		// the pod's ADD made cannot be found any more.
		s.log.Warn("cri: pod network not torn down", "id", id, "err", err)
		return nil
	}
	if err := c.Remove(ctx, id, netnsPath, opts...); err != nil {
		return fmt.Errorf("cni teardown of pod %s: %w", id, err)
	}
	return nil
}
